package relay

// Envelope first bytes a mailbox accepts (doc/SPEC.md §6.6).
const (
	sealedEnvelope   = 0x01
	deliveryEnvelope = 0x02
)
