package ingest

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/parkhq/park/tenancy"
)

// chirpStackUp is the part of a ChirpStack v4 "up" event we read; ChirpStack
// adds fields over time, so unknown ones are ignored. Numbers are raw so that
// their errors name the field.
type chirpStackUp struct {
	DeduplicationID *string `json:"deduplicationId"`
	Time            *string `json:"time"`
	DeviceInfo      *struct {
		DevEUI *string `json:"devEui"`
	} `json:"deviceInfo"`
	FCnt   json.RawMessage `json:"fCnt"`
	Object json.RawMessage `json:"object"`
	RxInfo []struct {
		RSSI   json.RawMessage `json:"rssi"`
		SNR    json.RawMessage `json:"snr"`
		NsTime *string         `json:"nsTime"`
	} `json:"rxInfo"`
}

// DecodeChirpStack decodes a ChirpStack v4 HTTP integration "up" event.
// deduplicationId and deviceInfo.devEui are required; fCnt may be absent,
// which in protobuf JSON means 0. occ is the tenant's occupancy rule (nil:
// the default rule).
func DecodeChirpStack(body []byte, arrival time.Time, occ *tenancy.Occupancy) (*Uplink, error) {
	var in chirpStackUp
	if err := decodeJSON(body, &in, false); err != nil {
		return nil, err
	}
	u := &Uplink{Source: SourceChirpStack, ReceivedAt: arrival}

	if in.DeduplicationID == nil || *in.DeduplicationID == "" {
		return nil, &DecodeError{Field: "deduplicationId", Reason: "required"}
	}
	u.MsgKey = boundKey(*in.DeduplicationID)

	if in.DeviceInfo == nil || in.DeviceInfo.DevEUI == nil {
		return nil, &DecodeError{Field: "deviceInfo.devEui", Reason: "required"}
	}
	var err error
	if u.DevEUI, err = devEUI("deviceInfo.devEui", *in.DeviceInfo.DevEUI); err != nil {
		return nil, err
	}

	fcnt, err := parseFCnt("fCnt", in.FCnt, true)
	if err != nil {
		return nil, err
	}
	u.FCnt = fcnt

	readAt, err := parseTime("time", in.Time)
	if err != nil {
		return nil, err
	}
	if readAt.IsZero() && len(in.RxInfo) > 0 {
		if readAt, err = parseTime("rxInfo[0].nsTime", in.RxInfo[0].NsTime); err != nil {
			return nil, err
		}
	}
	u.ReadAt = clampReadAt(readAt, arrival)

	var best radio
	for i, rx := range in.RxInfo {
		r, err := parseRadio(fmt.Sprintf("rxInfo[%d]", i), "rssi", rx.RSSI, nil, rx.SNR)
		if err != nil {
			return nil, err
		}
		best.consider(r)
	}
	u.RSSI, u.SNR = best.rssi, best.snr

	obj, stored, err := decodePayload("object", in.Object)
	if err != nil {
		return nil, err
	}
	u.Payload = stored
	u.Occupied = occupancy(obj, occ)
	return u, nil
}
