package ingest_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/parkhq/park/ingest"
	"github.com/parkhq/park/tenancy"
)

type decodeFunc func([]byte, time.Time, *tenancy.Occupancy) (*ingest.Uplink, error)

var (
	arrival  = time.Date(2030, 5, 1, 12, 0, 0, 0, time.UTC)
	decoders = map[ingest.Source]decodeFunc{
		ingest.SourceChirpStack: ingest.DecodeChirpStack,
		ingest.SourceTTS:        ingest.DecodeTTS,
		ingest.SourceGeneric:    ingest.DecodeGeneric,
	}
)

func ptr[T any](v T) *T { return &v }

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func fmtPtr[T any](p *T) any {
	if p == nil {
		return "nil"
	}
	return *p
}

func TestDecodeSamples(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file    string
		source  ingest.Source
		want    ingest.Uplink
		payload string // "" for none
	}{
		{
			file:   "chirpstack_up.json",
			source: ingest.SourceChirpStack,
			want: ingest.Uplink{
				DevEUI:   "70b3d57ed0000001",
				FCnt:     ptr(uint32(1234)),
				MsgKey:   "3ac7e3c4-4401-4b8d-9386-a5c902f9202d",
				ReadAt:   time.Date(2030, 5, 1, 11, 59, 58, 775023242, time.UTC),
				Occupied: ptr(true),
				RSSI:     ptr(-61),
				SNR:      ptr(9.5),
			},
			payload: `{"battery":3.61,"occupied":true,"temperature":21.5}`,
		},
		{
			// No object (no codec), no time, no fCnt (protobuf JSON omits 0).
			file:   "chirpstack_up_no_object.json",
			source: ingest.SourceChirpStack,
			want: ingest.Uplink{
				DevEUI: "70b3d57ed0000002",
				FCnt:   ptr(uint32(0)),
				MsgKey: "9d1b4a0f-1c39-4a53-9a7e-5d4c6b1f0e22",
				ReadAt: time.Date(2030, 5, 1, 11, 58, 0, 500000000, time.UTC),
				RSSI:   ptr(-110),
				SNR:    ptr(-4.5),
			},
		},
		{
			file:   "tts_uplink.json",
			source: ingest.SourceTTS,
			want: ingest.Uplink{
				DevEUI: "70b3d57ed0000003",
				FCnt:   ptr(uint32(42)),
				MsgKey: "as:up:01HZX3QA0C8J4P2V6B7N9M3K5T",
				ReadAt: time.Date(2030, 5, 1, 11, 59, 59, 800000000, time.UTC),
				// The default rule reads "occupied": this payload has none.
				Occupied: nil,
				// The second gateway has only channel_rssi, and is stronger.
				RSSI: ptr(-88),
				SNR:  ptr(6.5),
			},
			payload: `{"battery_mv":3600,"state":{"value":"occupied"}}`,
		},
		{
			file:   "tts_uplink_no_as_up.json",
			source: ingest.SourceTTS,
			want: ingest.Uplink{
				DevEUI:   "70b3d57ed0000004",
				FCnt:     ptr(uint32(0)),
				MsgKey:   "AYmVg5c5xXyQ4vAkZ2pZnw==:0",
				ReadAt:   time.Date(2030, 5, 1, 11, 59, 59, 0, time.UTC),
				Occupied: ptr(false),
				RSSI:     ptr(-90),
			},
			payload: `{"occupied":false}`,
		},
		{
			file:   "generic_with_id.json",
			source: ingest.SourceGeneric,
			want: ingest.Uplink{
				DevEUI:   "70b3d57ed0000005",
				FCnt:     ptr(uint32(7)),
				MsgKey:   "msg-2030-05-01-0007",
				ReadAt:   time.Date(2030, 5, 1, 11, 55, 0, 0, time.UTC),
				Occupied: ptr(false),
				RSSI:     ptr(-80),
				SNR:      ptr(8.0),
			},
			payload: `{"distance_cm":182,"occupied":"free"}`,
		},
		{
			// No id: keyed by frame counter; explicit occupied wins over
			// the payload; no received_at: read at arrival.
			file:   "generic_no_id.json",
			source: ingest.SourceGeneric,
			want: ingest.Uplink{
				DevEUI:   "70b3d57ed0000006",
				FCnt:     ptr(uint32(4294967295)),
				MsgKey:   "fcnt:4294967295",
				ReadAt:   arrival,
				Occupied: ptr(true),
			},
			payload: `{"occupied":"free"}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			got, err := decoders[tc.source](readTestdata(t, tc.file), arrival, nil)
			if err != nil {
				t.Fatal(err)
			}
			w := tc.want
			if got.Source != tc.source || got.DevEUI != w.DevEUI || got.MsgKey != w.MsgKey {
				t.Errorf("source, eui, key = %s %s %q, want %s %s %q", got.Source, got.DevEUI, got.MsgKey, tc.source, w.DevEUI, w.MsgKey)
			}
			if fmtPtr(got.FCnt) != fmtPtr(w.FCnt) {
				t.Errorf("FCnt = %v, want %v", fmtPtr(got.FCnt), fmtPtr(w.FCnt))
			}
			if !got.ReadAt.Equal(w.ReadAt) || got.ReadAt.Location() != time.UTC {
				t.Errorf("ReadAt = %v, want %v (UTC)", got.ReadAt, w.ReadAt)
			}
			if !got.ReceivedAt.Equal(arrival) {
				t.Errorf("ReceivedAt = %v, want %v", got.ReceivedAt, arrival)
			}
			if fmtPtr(got.Occupied) != fmtPtr(w.Occupied) {
				t.Errorf("Occupied = %v, want %v", fmtPtr(got.Occupied), fmtPtr(w.Occupied))
			}
			if fmtPtr(got.RSSI) != fmtPtr(w.RSSI) || fmtPtr(got.SNR) != fmtPtr(w.SNR) {
				t.Errorf("RSSI, SNR = %v %v, want %v %v", fmtPtr(got.RSSI), fmtPtr(got.SNR), fmtPtr(w.RSSI), fmtPtr(w.SNR))
			}
			if string(got.Payload) != tc.payload {
				t.Errorf("Payload = %s, want %s", got.Payload, tc.payload)
			}
		})
	}
}

func TestDecodeTTSKeys(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body, key string
	}{
		{"as:up id", `{"end_device_ids":{"dev_eui":"0011223344556677"},"correlation_ids":["as:up:X"],"uplink_message":{"session_key_id":"S","f_cnt":3}}`, "as:up:X"},
		{"empty as:up id skipped", `{"end_device_ids":{"dev_eui":"0011223344556677"},"correlation_ids":["as:up:","as:up:Y"],"uplink_message":{"f_cnt":3}}`, "as:up:Y"},
		{"session key", `{"end_device_ids":{"dev_eui":"0011223344556677"},"correlation_ids":["ns:uplink:Z"],"uplink_message":{"session_key_id":"S","f_cnt":3}}`, "S:3"},
		{"frame counter only", `{"end_device_ids":{"dev_eui":"0011223344556677"},"uplink_message":{"f_cnt":3}}`, "fcnt:3"},
	}
	for _, tc := range tests {
		got, err := ingest.DecodeTTS([]byte(tc.body), arrival, nil)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if got.MsgKey != tc.key {
			t.Errorf("%s: key %q, want %q", tc.name, got.MsgKey, tc.key)
		}
	}
}

func TestDecodeMalformed(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("A", 100000)
	deep := strings.Repeat(`{"a":`, 20000) + "1" + strings.Repeat("}", 20000)
	deepPayload := `{"dev_eui":"0011223344556677","f_cnt":1,"payload":` + strings.Repeat(`{"a":`, 100) + "1" + strings.Repeat("}", 100) + `}`
	tests := []struct {
		name   string
		source ingest.Source
		body   string
		field  string
	}{
		{"empty", ingest.SourceGeneric, ``, ""},
		{"not JSON", ingest.SourceChirpStack, `hello`, ""},
		{"truncated", ingest.SourceTTS, `{"end_device_ids":{`, ""},
		{"array", ingest.SourceChirpStack, `[1,2]`, ""},
		{"null body", ingest.SourceChirpStack, `null`, "deduplicationId"},
		{"trailing data", ingest.SourceGeneric, `{"dev_eui":"0011223344556677","f_cnt":1} {}`, ""},
		{"deep nesting", ingest.SourceChirpStack, deep, ""},
		{"deep payload", ingest.SourceGeneric, deepPayload, "payload"},
		{"invalid UTF-8 key", ingest.SourceGeneric, "{\"dev_eui\":\"0011223344556677\",\"f_cnt\":1,\"\xff\xfe\":1}", "\uFFFD\uFFFD"},

		{"cs no dedup id", ingest.SourceChirpStack, `{"deviceInfo":{"devEui":"0011223344556677"}}`, "deduplicationId"},
		{"cs empty dedup id", ingest.SourceChirpStack, `{"deduplicationId":"","deviceInfo":{"devEui":"0011223344556677"}}`, "deduplicationId"},
		{"cs dedup id number", ingest.SourceChirpStack, `{"deduplicationId":5,"deviceInfo":{"devEui":"0011223344556677"}}`, "deduplicationId"},
		{"cs no deviceInfo", ingest.SourceChirpStack, `{"deduplicationId":"x"}`, "deviceInfo.devEui"},
		{"cs short eui", ingest.SourceChirpStack, `{"deduplicationId":"x","deviceInfo":{"devEui":"00112233"}}`, "deviceInfo.devEui"},
		{"cs long eui", ingest.SourceChirpStack, `{"deduplicationId":"x","deviceInfo":{"devEui":"` + long + `"}}`, "deviceInfo.devEui"},
		{"cs fCnt negative", ingest.SourceChirpStack, `{"deduplicationId":"x","deviceInfo":{"devEui":"0011223344556677"},"fCnt":-1}`, "fCnt"},
		{"cs fCnt 2^32", ingest.SourceChirpStack, `{"deduplicationId":"x","deviceInfo":{"devEui":"0011223344556677"},"fCnt":4294967296}`, "fCnt"},
		{"cs fCnt huge", ingest.SourceChirpStack, `{"deduplicationId":"x","deviceInfo":{"devEui":"0011223344556677"},"fCnt":1e999999}`, "fCnt"},
		{"cs fCnt fraction", ingest.SourceChirpStack, `{"deduplicationId":"x","deviceInfo":{"devEui":"0011223344556677"},"fCnt":1.5}`, "fCnt"},
		{"cs fCnt NaN", ingest.SourceChirpStack, `{"deduplicationId":"x","deviceInfo":{"devEui":"0011223344556677"},"fCnt":"NaN"}`, "fCnt"},
		{"cs bad time", ingest.SourceChirpStack, `{"deduplicationId":"x","deviceInfo":{"devEui":"0011223344556677"},"time":"yesterday"}`, "time"},
		{"cs bad nsTime", ingest.SourceChirpStack, `{"deduplicationId":"x","deviceInfo":{"devEui":"0011223344556677"},"rxInfo":[{"nsTime":"` + long + `"}]}`, "rxInfo[0].nsTime"},
		{"cs rssi string", ingest.SourceChirpStack, `{"deduplicationId":"x","deviceInfo":{"devEui":"0011223344556677"},"rxInfo":[{"rssi":-1},{"rssi":"NaN"}]}`, "rxInfo[1].rssi"},
		{"cs rssi huge", ingest.SourceChirpStack, `{"deduplicationId":"x","deviceInfo":{"devEui":"0011223344556677"},"rxInfo":[{"rssi":1e300}]}`, "rxInfo[0].rssi"},
		{"cs snr infinite", ingest.SourceChirpStack, `{"deduplicationId":"x","deviceInfo":{"devEui":"0011223344556677"},"rxInfo":[{"snr":1e400}]}`, "rxInfo[0].snr"},
		{"cs object array", ingest.SourceChirpStack, `{"deduplicationId":"x","deviceInfo":{"devEui":"0011223344556677"},"object":[1]}`, "object"},
		{"cs object huge number", ingest.SourceChirpStack, `{"deduplicationId":"x","deviceInfo":{"devEui":"0011223344556677"},"object":{"v":1e400}}`, "object"},
		{"cs object underflow", ingest.SourceChirpStack, `{"deduplicationId":"x","deviceInfo":{"devEui":"0011223344556677"},"object":{"v":[1e-400]}}`, "object"},
		{"cs object long number", ingest.SourceChirpStack, `{"deduplicationId":"x","deviceInfo":{"devEui":"0011223344556677"},"object":{"v":0.` + strings.Repeat("1", 200) + `}}`, "object"},
		{"cs rxInfo object", ingest.SourceChirpStack, `{"deduplicationId":"x","deviceInfo":{"devEui":"0011223344556677"},"rxInfo":{}}`, "rxInfo"},

		{"tts no ids", ingest.SourceTTS, `{"uplink_message":{}}`, "end_device_ids.dev_eui"},
		{"tts no uplink", ingest.SourceTTS, `{"end_device_ids":{"dev_eui":"0011223344556677"}}`, "uplink_message"},
		{"tts eui bad char", ingest.SourceTTS, `{"end_device_ids":{"dev_eui":"00112233445566zz"},"uplink_message":{}}`, "end_device_ids.dev_eui"},
		{"tts f_cnt negative", ingest.SourceTTS, `{"end_device_ids":{"dev_eui":"0011223344556677"},"uplink_message":{"f_cnt":-5}}`, "uplink_message.f_cnt"},
		{"tts correlation not strings", ingest.SourceTTS, `{"end_device_ids":{"dev_eui":"0011223344556677"},"correlation_ids":[1],"uplink_message":{}}`, "correlation_ids"},
		{"tts bad received_at", ingest.SourceTTS, `{"end_device_ids":{"dev_eui":"0011223344556677"},"uplink_message":{"received_at":"2030-13-01T00:00:00Z"}}`, "uplink_message.received_at"},
		{"tts bad channel_rssi", ingest.SourceTTS, `{"end_device_ids":{"dev_eui":"0011223344556677"},"uplink_message":{"rx_metadata":[{"channel_rssi":true}]}}`, "uplink_message.rx_metadata[0].channel_rssi"},

		{"gen no eui", ingest.SourceGeneric, `{"f_cnt":1}`, "dev_eui"},
		{"gen no f_cnt", ingest.SourceGeneric, `{"dev_eui":"0011223344556677"}`, "f_cnt"},
		{"gen null f_cnt", ingest.SourceGeneric, `{"dev_eui":"0011223344556677","f_cnt":null}`, "f_cnt"},
		{"gen f_cnt too big", ingest.SourceGeneric, `{"dev_eui":"0011223344556677","f_cnt":99999999999999999999999}`, "f_cnt"},
		{"gen empty id", ingest.SourceGeneric, `{"dev_eui":"0011223344556677","f_cnt":1,"id":""}`, "id"},
		{"gen unknown field", ingest.SourceGeneric, `{"dev_eui":"0011223344556677","f_cnt":1,"extra":1}`, "extra"},
		{"gen long unknown field", ingest.SourceGeneric, `{"dev_eui":"0011223344556677","f_cnt":1,"` + long + `":1}`, strings.Repeat("A", 32) + "…"},
		{"gen occupied string", ingest.SourceGeneric, `{"dev_eui":"0011223344556677","f_cnt":1,"occupied":"yes"}`, "occupied"},
		{"gen payload string", ingest.SourceGeneric, `{"dev_eui":"0011223344556677","f_cnt":1,"payload":"x"}`, "payload"},
		{"gen rssi fraction huge", ingest.SourceGeneric, `{"dev_eui":"0011223344556677","f_cnt":1,"rssi":3e9}`, "rssi"},
		{"gen snr string", ingest.SourceGeneric, `{"dev_eui":"0011223344556677","f_cnt":1,"snr":"Infinity"}`, "snr"},
		{"gen received_at number", ingest.SourceGeneric, `{"dev_eui":"0011223344556677","f_cnt":1,"received_at":1714564800}`, "received_at"},
		{"gen received_at long", ingest.SourceGeneric, `{"dev_eui":"0011223344556677","f_cnt":1,"received_at":"` + long + `"}`, "received_at"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			u, err := decoders[tc.source]([]byte(tc.body), arrival, nil)
			if err == nil {
				t.Fatalf("decoded %+v, want an error", u)
			}
			var de *ingest.DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %T %v is not a *DecodeError", err, err)
			}
			if de.Field != tc.field {
				t.Errorf("field %q, want %q (%v)", de.Field, tc.field, err)
			}
			checkErrorBounded(t, err)
		})
	}
}

// checkErrorBounded checks an error repeats little of the input.
func checkErrorBounded(t testing.TB, err error) {
	t.Helper()
	msg := err.Error()
	if len(msg) > 200 || !utf8.ValidString(msg) || strings.Contains(msg, strings.Repeat("A", 40)) {
		t.Errorf("error not bounded (%d bytes): %.300q", len(msg), msg)
	}
}

func TestReadAtClamp(t *testing.T) {
	t.Parallel()
	body := func(ts string) []byte {
		return []byte(`{"dev_eui":"0011223344556677","f_cnt":1,"received_at":"` + ts + `"}`)
	}
	tests := []struct {
		ts   string
		want time.Time
	}{
		{"2030-05-01T11:00:00Z", arrival.Add(-time.Hour)},
		{"2030-05-01T14:00:00+02:00", arrival},
		{"2030-04-24T12:00:00Z", arrival.Add(-7 * 24 * time.Hour)},
		{"2030-04-24T11:59:59.999Z", arrival.Add(-7 * 24 * time.Hour)},
		{"1970-01-01T00:00:00Z", arrival.Add(-7 * 24 * time.Hour)},
		{"2030-05-01T12:02:00Z", arrival.Add(2 * time.Minute)},
		{"2030-05-01T12:02:00.000000001Z", arrival.Add(2 * time.Minute)},
		{"9999-12-31T23:59:59Z", arrival.Add(2 * time.Minute)},
	}
	for _, tc := range tests {
		u, err := ingest.DecodeGeneric(body(tc.ts), arrival, nil)
		if err != nil {
			t.Errorf("%s: %v", tc.ts, err)
			continue
		}
		if !u.ReadAt.Equal(tc.want) {
			t.Errorf("%s: ReadAt %v, want %v", tc.ts, u.ReadAt, tc.want)
		}
	}

	// ChirpStack: time, else rxInfo[0].nsTime, else arrival; each clamped.
	cs := func(extra string) []byte {
		return []byte(`{"deduplicationId":"x","deviceInfo":{"devEui":"0011223344556677"}` + extra + `}`)
	}
	for extra, want := range map[string]time.Time{
		`,"time":"2030-05-01T11:00:00Z","rxInfo":[{"nsTime":"2030-05-01T11:30:00Z"}]`:     arrival.Add(-time.Hour),
		`,"rxInfo":[{"nsTime":"2030-05-01T11:30:00Z"},{"nsTime":"2030-05-01T11:40:00Z"}]`: arrival.Add(-30 * time.Minute),
		`,"rxInfo":[{"nsTime":"2031-01-01T00:00:00Z"}]`:                                   arrival.Add(2 * time.Minute),
		``: arrival,
	} {
		u, err := ingest.DecodeChirpStack(cs(extra), arrival, nil)
		if err != nil {
			t.Errorf("%s: %v", extra, err)
			continue
		}
		if !u.ReadAt.Equal(want) {
			t.Errorf("%s: ReadAt %v, want %v", extra, u.ReadAt, want)
		}
	}

	// TTS: uplink_message.received_at, else received_at, else arrival.
	tts := func(top, um string) []byte {
		return []byte(`{"end_device_ids":{"dev_eui":"0011223344556677"}` + top + `,"uplink_message":{` + um + `}}`)
	}
	for _, tc := range []struct {
		top, um string
		want    time.Time
	}{
		{`,"received_at":"2030-05-01T11:00:00Z"`, `"received_at":"2030-05-01T11:10:00Z"`, arrival.Add(-50 * time.Minute)},
		{`,"received_at":"2030-05-01T11:00:00Z"`, ``, arrival.Add(-time.Hour)},
		{``, ``, arrival},
	} {
		u, err := ingest.DecodeTTS(tts(tc.top, tc.um), arrival, nil)
		if err != nil {
			t.Errorf("%s %s: %v", tc.top, tc.um, err)
			continue
		}
		if !u.ReadAt.Equal(tc.want) {
			t.Errorf("%s %s: ReadAt %v, want %v", tc.top, tc.um, u.ReadAt, tc.want)
		}
	}
}

func TestOccupancyRules(t *testing.T) {
	t.Parallel()
	var fromSettings tenancy.Occupancy
	if err := json.Unmarshal([]byte(`{"field":"status.code","occupied":[1,"busy"],"free":[0,"idle"]}`), &fromSettings); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		rule    *tenancy.Occupancy
		payload string
		want    *bool
	}{
		{"default true", nil, `{"occupied":true}`, ptr(true)},
		{"default string", nil, `{"occupied":"occupied"}`, ptr(true)},
		{"default false", nil, `{"occupied":false}`, ptr(false)},
		{"default free", nil, `{"occupied":"free"}`, ptr(false)},
		{"default no match", nil, `{"occupied":"maybe"}`, nil},
		{"default wrong case", nil, `{"occupied":"Occupied"}`, nil},
		{"default number does not match bool", nil, `{"occupied":1}`, nil},
		{"default missing", nil, `{"car":true}`, nil},
		{"no payload", nil, ``, nil},
		{"settings dotted number", &fromSettings, `{"status":{"code":1}}`, ptr(true)},
		{"settings dotted number 1.0", &fromSettings, `{"status":{"code":1.0}}`, ptr(true)},
		{"settings dotted number 1e0", &fromSettings, `{"status":{"code":1e0}}`, ptr(true)},
		{"settings dotted zero", &fromSettings, `{"status":{"code":-0}}`, ptr(false)},
		{"settings dotted string", &fromSettings, `{"status":{"code":"idle"}}`, ptr(false)},
		{"settings number as string", &fromSettings, `{"status":{"code":"1"}}`, nil},
		{"settings no match", &fromSettings, `{"status":{"code":2}}`, nil},
		{"settings object value", &fromSettings, `{"status":{"code":{"v":1}}}`, nil},
		{"settings path through scalar", &fromSettings, `{"status":5}`, nil},
		{"literal dotted key preferred", &fromSettings, `{"status.code":"busy","status":{"code":"idle"}}`, ptr(true)},
		{"go ints", &tenancy.Occupancy{Field: "n", Occupied: []any{int64(3)}, Free: []any{uint8(0)}}, `{"n":3}`, ptr(true)},
		{"json.Number rule", &tenancy.Occupancy{Field: "n", Occupied: []any{json.Number("2.50")}}, `{"n":2.5}`, ptr(true)},
		{"array index", &tenancy.Occupancy{Field: "bays.1.busy", Occupied: []any{true}, Free: []any{false}}, `{"bays":[{"busy":true},{"busy":false}]}`, ptr(false)},
		{"array index out of range", &tenancy.Occupancy{Field: "bays.2", Occupied: []any{true}}, `{"bays":[true]}`, nil},
		{"array bad index", &tenancy.Occupancy{Field: "bays.-1", Occupied: []any{true}}, `{"bays":[true]}`, nil},
		{"null value", &tenancy.Occupancy{Field: "v", Free: []any{nil}}, `{"v":null}`, ptr(false)},
		{"both lists: occupied wins", &tenancy.Occupancy{Field: "v", Occupied: []any{"x"}, Free: []any{"x"}}, `{"v":"x"}`, ptr(true)},
		{"empty field is occupied", &tenancy.Occupancy{Occupied: []any{"yes"}}, `{"occupied":"yes"}`, ptr(true)},
		{"empty lists", &tenancy.Occupancy{Field: "occupied"}, `{"occupied":true}`, nil},
		{"huge number rule", &tenancy.Occupancy{Field: "v", Occupied: []any{json.Number("1e999")}}, `{"v":1}`, nil},
	}
	for _, tc := range tests {
		body := `{"dev_eui":"0011223344556677","f_cnt":1`
		if tc.payload != "" {
			body += `,"payload":` + tc.payload
		}
		body += `}`
		u, err := ingest.DecodeGeneric([]byte(body), arrival, tc.rule)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if fmtPtr(u.Occupied) != fmtPtr(tc.want) {
			t.Errorf("%s: Occupied %v, want %v", tc.name, fmtPtr(u.Occupied), fmtPtr(tc.want))
		}
	}

	// The same rule through the network-server formats.
	u, err := ingest.DecodeTTS(readTestdata(t, "tts_uplink.json"), arrival, &tenancy.Occupancy{Field: "state.value", Occupied: []any{"occupied"}, Free: []any{"vacant"}})
	if err != nil {
		t.Fatal(err)
	}
	if fmtPtr(u.Occupied) != true {
		t.Errorf("TTS state.value: Occupied %v, want true", fmtPtr(u.Occupied))
	}
	u, err = ingest.DecodeChirpStack(readTestdata(t, "chirpstack_up.json"), arrival, &tenancy.Occupancy{Field: "temperature", Free: []any{21.5}})
	if err != nil {
		t.Fatal(err)
	}
	if fmtPtr(u.Occupied) != false {
		t.Errorf("ChirpStack temperature: Occupied %v, want false", fmtPtr(u.Occupied))
	}
}

func TestMsgKeyBound(t *testing.T) {
	t.Parallel()
	hashed := regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
	key := func(id string) string {
		t.Helper()
		b, _ := json.Marshal(map[string]any{"dev_eui": "0011223344556677", "f_cnt": 1, "id": id})
		u, err := ingest.DecodeGeneric(b, arrival, nil)
		if err != nil {
			t.Fatal(err)
		}
		return u.MsgKey
	}
	if k := strings.Repeat("é", 127) + "x"; key(k) != k { // 255 bytes
		t.Errorf("255-byte key changed")
	}
	long := strings.Repeat("k", 256)
	if k := key(long); !hashed.MatchString(k) || k != key(long) || k == key(long+"k") {
		t.Errorf("256-byte key: %q, want a stable sha256 key", k)
	}
	for _, id := range []string{"a\x00b", "line\nbreak", "del\x7f"} {
		if k := key(id); !hashed.MatchString(k) {
			t.Errorf("%q: key %q, want hashed", id, k)
		}
	}
	// A ChirpStack id is bounded the same way.
	u, err := ingest.DecodeChirpStack([]byte(`{"deduplicationId":"`+strings.Repeat("d", 1000)+`","deviceInfo":{"devEui":"0011223344556677"}}`), arrival, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !hashed.MatchString(u.MsgKey) {
		t.Errorf("ChirpStack long id: key %q", u.MsgKey)
	}
}

func TestPayloadStored(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, payload, want string
	}{
		{"NUL in string and key", `{"t\u0000":"a\u0000b"}`, "{\"t\uFFFD\":\"a\uFFFDb\"}"},
		{"invalid UTF-8", "{\"s\":\"\xff\xfe\"}", "{\"s\":\"\uFFFD\uFFFD\"}"},
		{"lone surrogate", `{"s":"\ud800"}`, "{\"s\":\"\uFFFD\"}"},
		{"HTML kept", `{"s":"<a&b>"}`, `{"s":"<a&b>"}`},
		{"numbers kept exactly", `{"a":12345678901234567890,"b":1.50,"c":-0,"d":1e-300,"e":0.000}`, `{"a":12345678901234567890,"b":1.50,"c":-0,"d":1e-300,"e":0.000}`},
		{"nested", `{"a":[{"b":[null,true]}]}`, `{"a":[{"b":[null,true]}]}`},
		{"empty", `{}`, `{}`},
	}
	for _, tc := range tests {
		body := `{"dev_eui":"0011223344556677","f_cnt":1,"payload":` + tc.payload + `}`
		u, err := ingest.DecodeGeneric([]byte(body), arrival, nil)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if string(u.Payload) != tc.want {
			t.Errorf("%s: Payload %q, want %q", tc.name, u.Payload, tc.want)
		}
	}
	u, err := ingest.DecodeGeneric([]byte(`{"dev_eui":"0011223344556677","f_cnt":1,"payload":null}`), arrival, nil)
	if err != nil || u.Payload != nil {
		t.Errorf("null payload: %q, %v", u.Payload, err)
	}
}

// checkUplink checks the invariants every decoded uplink keeps, whatever
// the input: what sensor_readings and uplink_dedupe accept.
func checkUplink(t *testing.T, src ingest.Source, u *ingest.Uplink) {
	t.Helper()
	if u.Source != src {
		t.Errorf("source %q, want %q", u.Source, src)
	}
	if !euiRE.MatchString(u.DevEUI) {
		t.Errorf("DevEUI %q", u.DevEUI)
	}
	if n := len(u.MsgKey); n < 1 || n > ingest.MaxMsgKeyLen || !utf8.ValidString(u.MsgKey) || strings.ContainsFunc(u.MsgKey, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		t.Errorf("MsgKey %q", u.MsgKey)
	}
	if u.FCnt == nil && src != ingest.SourceChirpStack && src != ingest.SourceTTS {
		t.Errorf("FCnt nil")
	}
	lo, hi := arrival.Add(-ingest.MaxReadAge), arrival.Add(ingest.MaxReadAhead)
	if u.ReadAt.Before(lo) || u.ReadAt.After(hi) {
		t.Errorf("ReadAt %v outside [%v, %v]", u.ReadAt, lo, hi)
	}
	if u.Payload != nil {
		if !json.Valid(u.Payload) || !utf8.Valid(u.Payload) || bytes.Contains(u.Payload, []byte(`\u0000`)) || u.Payload[0] != '{' {
			t.Errorf("Payload %q not storable", u.Payload)
		}
	}
}

var euiRE = regexp.MustCompile(`^[0-9a-f]{16}$`)

func fuzzDecoder(f *testing.F, src ingest.Source, seeds ...string) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	decode := decoders[src]
	rule := &tenancy.Occupancy{Field: "a.b", Occupied: []any{1.0, "x", true}, Free: []any{0.0, nil}}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, occ := range []*tenancy.Occupancy{nil, rule} {
			u, err := decode(body, arrival, occ)
			if err != nil {
				var de *ingest.DecodeError
				if !errors.As(err, &de) {
					t.Fatalf("error %T is not a *DecodeError: %v", err, err)
				}
				checkErrorBounded(t, err)
				continue
			}
			checkUplink(t, src, u)
		}
	})
}

func FuzzDecodeChirpStack(f *testing.F) {
	fuzzDecoder(f, ingest.SourceChirpStack,
		`{"deduplicationId":"x","deviceInfo":{"devEui":"0011223344556677"},"fCnt":1,"object":{"a":{"b":1}},"rxInfo":[{"rssi":-1,"snr":2}]}`,
		`{"deduplicationId":"\u0000","deviceInfo":{"devEui":"00-11-22-33-44-55-66-77"},"time":"2030-05-01T12:00:00Z"}`,
	)
}

func FuzzDecodeTTS(f *testing.F) {
	fuzzDecoder(f, ingest.SourceTTS,
		`{"end_device_ids":{"dev_eui":"0011223344556677"},"correlation_ids":["as:up:1"],"uplink_message":{"f_cnt":1,"decoded_payload":{"a":{"b":"x"}},"rx_metadata":[{"channel_rssi":-3}]}}`,
		`{"end_device_ids":{"dev_eui":"0011223344556677"},"uplink_message":{"session_key_id":"s","received_at":"2030-05-01T12:00:00Z"}}`,
	)
}

func FuzzDecodeGeneric(f *testing.F) {
	fuzzDecoder(f, ingest.SourceGeneric,
		`{"dev_eui":"0011223344556677","f_cnt":1}`,
		`{"dev_eui":"0011223344556677","f_cnt":1,"id":"k","payload":{"a":{"b":0}},"rssi":-5.5,"snr":-1e-3,"received_at":"2030-05-01T12:00:00Z","occupied":null}`,
	)
}
