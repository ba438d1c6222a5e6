package proto

// ErrorAnswer is the body of every non-2xx answer of the HTTP API
// (doc/API.md §1): {"error": {"code": "mailbox_full", "message": "…"}}.
// The HTTP status and a Retry-After header go with it.
type ErrorAnswer struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is the error of an ErrorAnswer. Code is stable and
// machine-readable (one of the Code constants); Message is for people
// and never contains secrets.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Error codes of the HTTP API, also the codes of the relay's status
// notices and of the per-recipient failures of a fan-out. A client
// decides what to do by these, never by a message.
const (
	CodeAccountStorageFull = "account_storage_full"
	CodeBackupLocked       = "backup_locked"
	CodeBadAck             = "bad_ack"
	CodeBadBlobId          = "bad_blob_id"
	CodeBadChunkIndex      = "bad_chunk_index"
	CodeBadChunkSize       = "bad_chunk_size"
	CodeBadContentType     = "bad_content_type"
	CodeBadEnvelope        = "bad_envelope"
	CodeBadFanout          = "bad_fanout"
	CodeBadRecipients      = "bad_recipients"
	CodeBadRequest         = "bad_request"
	CodeBadSignature       = "bad_signature"
	CodeBadSize            = "bad_size"
	CodeBadState           = "bad_state"
	CodeChallengeFailed    = "challenge_failed"
	CodeChunkConflict      = "chunk_conflict"
	CodeChunkMissing       = "chunk_missing"
	CodeDeviceExists       = "device_exists"
	CodeDuplicatePrekey    = "duplicate_prekey"
	CodeEnvelopeTooLarge   = "envelope_too_large"
	CodeForbidden          = "forbidden"
	CodeIncomplete         = "incomplete"
	CodeInternal           = "internal"
	CodeInvalidEmail       = "invalid_email"
	CodeInvalidUsername    = "invalid_username"
	CodeInviteExpired      = "invite_expired"
	CodeInviteInvalid      = "invite_invalid"
	CodeInviteLimit        = "invite_limit"
	CodeInviteRequired     = "invite_required"
	CodeInviteUsed         = "invite_used"
	CodeInvitesDisabled    = "invites_disabled"
	CodeMailFailed         = "mail_failed"
	CodeMailboxFull        = "mailbox_full"
	CodeMailboxShareFull   = "mailbox_share_full"
	CodeBadDeviceList      = "bad_device_list"
	CodeDeviceListMismatch = "device_list_mismatch"
	CodeDeviceListRequired = "device_list_required"
	CodeStaleDeviceList    = "stale_device_list"
	CodeUnknownLink        = "unknown_link"
	CodeUnknownRecovery    = "unknown_recovery"
	CodeLinkAnswered       = "link_answered"
	CodeNoBackup           = "no_backup"
	CodeNotActive          = "not_active"
	CodeNotAdmin           = "not_admin"
	CodeNotAuthorized      = "not_authorized"
	CodeNotFound           = "not_found"
	CodeQuotaExceeded      = "quota_exceeded"
	CodeRateLimited        = "rate_limited"
	CodeRegistrationClosed = "registration_closed"
	CodeReplayedRequest    = "replayed_request"
	CodeStale              = "stale"
	CodeStaleRequest       = "stale_request"
	CodeTokenInvalid       = "token_invalid"
	CodeTooLarge           = "too_large"
	CodeTooManyDevices     = "too_many_devices"
	CodeTooManyPrekeys     = "too_many_prekeys"
	CodeTooManyRecipients  = "too_many_recipients"
	CodeTooManyRequests    = "too_many_requests"
	CodeTooManyUploads     = "too_many_uploads"
	CodeUnauthorized       = "unauthorized"
	CodeUnavailable        = "unavailable"
	CodeUnknownDevice      = "unknown_device"
	CodeUnknownMailbox     = "unknown_mailbox"
	CodeUnknownRoom        = "unknown_room"
	CodeUnknownUser        = "unknown_user"
	CodeUsernameTaken      = "username_taken"
	CodeWrongLength        = "wrong_length"
)
