package relay

// Envelope first bytes a mailbox accepts (doc/SPEC.md §6.6). Topics and
// the delivery and ack frames are in internal/proto.
const (
	sealedEnvelope   = 0x01
	deliveryEnvelope = 0x02
)
