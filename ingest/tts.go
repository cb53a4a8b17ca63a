package ingest

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/parkhq/park/tenancy"
)

// ttsUp is the part of a The Things Stack v3 webhook uplink message we read;
// unknown fields are ignored.
type ttsUp struct {
	EndDeviceIDs *struct {
		DevEUI *string `json:"dev_eui"`
	} `json:"end_device_ids"`
	CorrelationIDs []string `json:"correlation_ids"`
	ReceivedAt     *string  `json:"received_at"`
	UplinkMessage  *struct {
		SessionKeyID   *string         `json:"session_key_id"`
		FCnt           json.RawMessage `json:"f_cnt"`
		DecodedPayload json.RawMessage `json:"decoded_payload"`
		ReceivedAt     *string         `json:"received_at"`
		RxMetadata     []struct {
			RSSI        json.RawMessage `json:"rssi"`
			ChannelRSSI json.RawMessage `json:"channel_rssi"`
			SNR         json.RawMessage `json:"snr"`
		} `json:"rx_metadata"`
	} `json:"uplink_message"`
}

// ttsUpPrefix marks the Application Server's uplink correlation id.
const ttsUpPrefix = "as:up:"

// DecodeTTS decodes a The Things Stack v3 webhook uplink message.
// end_device_ids.dev_eui and uplink_message are required; f_cnt may be
// absent, which in protobuf JSON means 0. The message key is the "as:up:"
// correlation id, else "<session_key_id>:<f_cnt>", else "fcnt:<f_cnt>".
func DecodeTTS(body []byte, arrival time.Time, occ *tenancy.Occupancy) (*Uplink, error) {
	var in ttsUp
	if err := decodeJSON(body, &in, false); err != nil {
		return nil, err
	}
	u := &Uplink{Source: SourceTTS, ReceivedAt: arrival}

	if in.EndDeviceIDs == nil || in.EndDeviceIDs.DevEUI == nil {
		return nil, &DecodeError{Field: "end_device_ids.dev_eui", Reason: "required"}
	}
	var err error
	if u.DevEUI, err = devEUI("end_device_ids.dev_eui", *in.EndDeviceIDs.DevEUI); err != nil {
		return nil, err
	}
	um := in.UplinkMessage
	if um == nil {
		return nil, &DecodeError{Field: "uplink_message", Reason: "required"}
	}

	fcnt, err := parseFCnt("uplink_message.f_cnt", um.FCnt, true)
	if err != nil {
		return nil, err
	}
	u.FCnt = fcnt

	for _, id := range in.CorrelationIDs {
		if len(id) > len(ttsUpPrefix) && strings.HasPrefix(id, ttsUpPrefix) {
			u.MsgKey = boundKey(id)
			break
		}
	}
	if u.MsgKey == "" {
		if um.SessionKeyID != nil && *um.SessionKeyID != "" {
			u.MsgKey = boundKey(*um.SessionKeyID + ":" + strconv.FormatUint(uint64(*fcnt), 10))
		} else {
			u.MsgKey = fcntKey(*fcnt)
		}
	}

	readAt, err := parseTime("uplink_message.received_at", um.ReceivedAt)
	if err != nil {
		return nil, err
	}
	if readAt.IsZero() {
		if readAt, err = parseTime("received_at", in.ReceivedAt); err != nil {
			return nil, err
		}
	}
	u.ReadAt = clampReadAt(readAt, arrival)

	var best radio
	for i, rx := range um.RxMetadata {
		r, err := parseRadio(fmt.Sprintf("uplink_message.rx_metadata[%d]", i), "rssi", rx.RSSI, rx.ChannelRSSI, rx.SNR)
		if err != nil {
			return nil, err
		}
		best.consider(r)
	}
	u.RSSI, u.SNR = best.rssi, best.snr

	obj, stored, err := decodePayload("uplink_message.decoded_payload", um.DecodedPayload)
	if err != nil {
		return nil, err
	}
	u.Payload = stored
	u.Occupied = occupancy(obj, occ)
	return u, nil
}
