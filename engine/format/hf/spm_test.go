package hf

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protowire"
)

func spmBytes(pieces ...spmPiece) []byte {
	var b []byte
	for _, p := range pieces {
		var m []byte
		m = protowire.AppendTag(m, 1, protowire.BytesType)
		m = protowire.AppendString(m, p.text)
		m = protowire.AppendTag(m, 2, protowire.Fixed32Type)
		m = protowire.AppendFixed32(m, math.Float32bits(p.score))
		if p.typ != tokNormal {
			m = protowire.AppendTag(m, 3, protowire.VarintType)
			m = protowire.AppendVarint(m, uint64(p.typ))
		}
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendBytes(b, m)
	}
	// a normalizer_spec after the pieces, skipped
	b = protowire.AppendTag(b, 3, protowire.BytesType)
	return protowire.AppendBytes(b, []byte{0x0a, 0x01, 'x'})
}

func TestParseSPM(t *testing.T) {
	want := []spmPiece{{"<unk>", 0, tokUnknown}, {"<s>", 0, tokControl}, {"\u2581hi", -1.5, tokNormal}, {"<0x41>", 0, tokByte}}
	got, err := parseSPM("m", spmBytes(want...))
	require.NoError(t, err)
	assert.Equal(t, want, got)

	b := spmBytes(want...)
	_, err = parseSPM("m", b[:len(b)-6])
	assert.ErrorContains(t, err, "runs past the end")
	_, err = parseSPM("m", spmBytes(spmPiece{"x", 0, 9}))
	assert.ErrorContains(t, err, "unknown piece type 9")
	_, err = parseSPM("m", nil)
	assert.ErrorContains(t, err, "no pieces")
}

func FuzzParseSPM(f *testing.F) {
	f.Add(spmBytes(spmPiece{"<unk>", 0, tokUnknown}, spmPiece{"a", -1, tokNormal}))
	f.Add([]byte{0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = parseSPM("fuzz", b)
	})
}
