package handshake

// The FP9 ("digest") handshake keys, as published in librtmp, FFmpeg and
// nginx-rtmp. The C1 digest is keyed by the first 30
// bytes of genuineFPKey, the S1 digest by the first 36 bytes of
// genuineFMSKey; the S2/C2 signatures use keys derived from the full keys.
var (
	keyTail = [32]byte{
		0xF0, 0xEE, 0xC2, 0x4A, 0x80, 0x68, 0xBE, 0xE8, 0x2E, 0x00, 0xD0, 0xD1, 0x02, 0x9E, 0x7E, 0x57,
		0x6E, 0xEC, 0x5D, 0x2D, 0x29, 0x80, 0x6F, 0xAB, 0x93, 0xB8, 0xE6, 0x36, 0xCF, 0xEB, 0x31, 0xAE,
	}
	genuineFPKey  = append([]byte("Genuine Adobe Flash Player 001"), keyTail[:]...)       // 62 bytes
	genuineFMSKey = append([]byte("Genuine Adobe Flash Media Server 001"), keyTail[:]...) // 68 bytes

	partialFPKey  = genuineFPKey[:30]
	partialFMSKey = genuineFMSKey[:36]
)
