package sqlstore

import (
	"errors"
	"testing"
)

// runSuite checks that a backend implements store.Store as its doc
// comments promise. open returns a new, empty store on each call.
func runSuite(t *testing.T, open func(t *testing.T) *DB) {
	tests := []struct {
		name string
		fn   func(t *testing.T, open func(t *testing.T) *DB)
	}{
		{"CreateAndGetAccount", testCreateAndGetAccount},
		{"ImportAccounts", testImportAccounts},
		{"UsernameTakeover", testUsernameTakeover},
		{"PendingAccounts", testPendingAccounts},
		{"DeleteAccount", testDeleteAccount},
		{"PurgeAccount", testPurgeAccount},
		{"RotateIdentity", testRotateIdentity},
		{"Devices", testDevices},
		{"DeviceBroker", testDeviceBroker},
		{"DeviceLists", testDeviceLists},
		{"Backups", testBackups},
		{"BackupEvaluationsConcurrent", testBackupEvaluationsConcurrent},
		{"PreKeys", testPreKeys},
		{"OneTimePreKeys", testOneTimePreKeys},
		{"OneTimePreKeysConcurrent", testOneTimePreKeysConcurrent},
		{"BundleKeysLimits", testBundleKeysLimits},
		{"BundleKeysConcurrent", testBundleKeysConcurrent},
		{"ClaimRequest", testClaimRequest},
		{"Tokens", testTokens},
		{"Sessions", testSessions},
		{"AppendAndPending", testAppendAndPending},
		{"PendingPageByteBudget", testPendingPageByteBudget},
		{"MailboxLimits", testMailboxLimits},
		{"AckOtherMailbox", testAckOtherMailbox},
		{"ExpireEnvelopes", testExpireEnvelopes},
		{"DeviceDeletionDropsMailbox", testDeviceDeletionDropsMailbox},
		{"SenderShare", testSenderShare},
		{"AccountBudget", testAccountBudget},
		{"SenderAccountingConcurrent", testSenderAccountingConcurrent},
		{"AppendConcurrent", testAppendConcurrent},
		{"PagingNeverSkips", testPagingNeverSkips},
		{"Blobs", testBlobs},
		{"BlobChunkResend", testBlobChunkResend},
		{"BlobFetchedAndExpiry", testBlobFetchedAndExpiry},
		{"BlobQuota", testBlobQuota},
		{"BlobQuotaConcurrent", testBlobQuotaConcurrent},
		{"BlobCompletionShares", testBlobCompletionShares},
		{"Rooms", testRooms},
		{"SurvivesReopen", testSurvivesReopen},
		{"MigrationsIdempotent", testMigrationsIdempotent},
		{"NewerSchemaRefused", testNewerSchemaRefused},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open) })
	}
}

// wantErr fails unless err matches want (nil included).
func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if want == nil && err != nil || want != nil && !errors.Is(err, want) {
		t.Fatalf("%s: err = %v, want %v", what, err, want)
	}
}
