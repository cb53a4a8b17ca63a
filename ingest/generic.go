package ingest

import (
	"encoding/json"
	"time"

	"github.com/parkhq/park/tenancy"
)

// genericUp is Park's own uplink form; it is ours, so unknown fields are
// refused rather than silently dropped.
type genericUp struct {
	DevEUI     *string         `json:"dev_eui"`
	FCnt       json.RawMessage `json:"f_cnt"`
	ID         *string         `json:"id"`
	ReceivedAt *string         `json:"received_at"`
	Occupied   *bool           `json:"occupied"`
	Payload    json.RawMessage `json:"payload"`
	RSSI       json.RawMessage `json:"rssi"`
	SNR        json.RawMessage `json:"snr"`
}

// DecodeGeneric decodes the generic form
// {dev_eui, f_cnt, id?, received_at?, occupied?, payload?, rssi?, snr?}.
// dev_eui and f_cnt are required; id, when present, must not be empty. An
// explicit occupied (true or false) wins over the occupancy rule applied to
// payload.
func DecodeGeneric(body []byte, arrival time.Time, occ *tenancy.Occupancy) (*Uplink, error) {
	var in genericUp
	if err := decodeJSON(body, &in, true); err != nil {
		return nil, err
	}
	u := &Uplink{Source: SourceGeneric, ReceivedAt: arrival}

	if in.DevEUI == nil {
		return nil, &DecodeError{Field: "dev_eui", Reason: "required"}
	}
	var err error
	if u.DevEUI, err = devEUI("dev_eui", *in.DevEUI); err != nil {
		return nil, err
	}
	fcnt, err := parseFCnt("f_cnt", in.FCnt, false)
	if err != nil {
		return nil, err
	}
	u.FCnt = fcnt

	switch {
	case in.ID == nil:
		u.MsgKey = fcntKey(*fcnt)
	case *in.ID == "":
		return nil, &DecodeError{Field: "id", Reason: "must not be empty"}
	default:
		u.MsgKey = boundKey(*in.ID)
	}

	readAt, err := parseTime("received_at", in.ReceivedAt)
	if err != nil {
		return nil, err
	}
	u.ReadAt = clampReadAt(readAt, arrival)

	r, err := parseRadio("", "rssi", in.RSSI, nil, in.SNR)
	if err != nil {
		return nil, err
	}
	u.RSSI, u.SNR = r.rssi, r.snr

	obj, stored, err := decodePayload("payload", in.Payload)
	if err != nil {
		return nil, err
	}
	u.Payload = stored
	if in.Occupied != nil {
		v := *in.Occupied
		u.Occupied = &v
	} else {
		u.Occupied = occupancy(obj, occ)
	}
	return u, nil
}
