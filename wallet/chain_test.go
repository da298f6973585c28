package wallet

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/liteclient"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/ton"
	"github.com/xssnick/tonutils-go/tvm/cell"
)

func TestConfirmTransfer(t *testing.T) {
	dest := lsUndeployed
	other := lsRejecting
	sent := func(to *address.Address, amount int64) TxMsg {
		return TxMsg{Kind: MsgInternal, Source: lsDeployed, Dest: to, Amount: amount}
	}
	for _, tc := range []struct {
		name    string
		tx      Tx
		wantErr string // "" for success
		skipped bool
	}{
		{"sent", Tx{Success: true, TotalActions: 1, Out: []TxMsg{sent(dest, 500)}}, "", false},
		{"sent among others", Tx{Success: true, TotalActions: 2, Out: []TxMsg{sent(other, 1), sent(dest, 500)}}, "", false},
		{"wrong amount", Tx{Success: true, Out: []TxMsg{sent(dest, 499)}}, "carried 499 nanoTON, not 500", false},
		{"mode 3, balance too low", Tx{Success: false, TotalActions: 1, SkippedActions: 1}, "1 of 1 actions skipped", true},
		{"compute failed", Tx{Success: false, ExitCode: 35}, "exit code 35", true},
		{"sent elsewhere", Tx{Success: true, TotalActions: 1, Out: []TxMsg{sent(other, 500)}}, "did not send", true},
	} {
		_, err := ConfirmTransfer(tc.tx, dest, 500)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%s: err = %v, want one containing %q", tc.name, err, tc.wantErr)
		case errors.Is(err, ErrTransferSkipped) != tc.skipped:
			t.Errorf("%s: errors.Is(ErrTransferSkipped) = %v", tc.name, !tc.skipped)
		}
	}
}

func TestErrorMapping(t *testing.T) {
	refusal := ton.LSError{Code: 0, Text: "cannot apply external message to current state : External message was not accepted\n" +
		"Cannot run message on account: inbound external message rejected by transaction 2A:\nexitcode=35, steps=20, gas_used=0"}
	err := sendError(refusal)
	var rej *RejectedError
	if !errors.As(err, &rej) || rej.ExitCode != 35 || !errors.Is(err, ErrRejected) || !strings.Contains(err.Error(), "bad signature") {
		t.Errorf("refusal: %v", err)
	}
	if err := sendError(ton.LSError{Code: 0, Text: "duplicate message"}); !errors.As(err, &rej) || rej.ExitCode != 0 || !strings.Contains(err.Error(), "duplicate message") {
		t.Errorf("refusal without an exit code: %v", err)
	}
	if err := sendError(fmt.Errorf("wrapped: %w", context.DeadlineExceeded)); errors.Is(err, ErrRejected) || !strings.Contains(err.Error(), "no liteserver answered") {
		t.Errorf("timeout: %v", err)
	}
	if err := sendError(liteclient.ErrNoActiveConnections); !strings.Contains(err.Error(), "check the network") {
		t.Errorf("no connections: %v", err)
	}

	if err := getMethodError(lsUndeployed, "seqno", ton.ContractExecError{Code: -256}); !errors.Is(err, ErrNotDeployed) {
		t.Errorf("-256: %v", err)
	}
	var ge *GetMethodError
	if err := getMethodError(lsDeployed, "seqno", ton.ContractExecError{Code: 11}); !errors.As(err, &ge) || ge.ExitCode != 11 {
		t.Errorf("11: %v", err)
	}
	if err := getMethodError(lsDeployed, "seqno", ton.LSError{Code: -400, Text: "block not ready"}); !strings.Contains(err.Error(), "block not ready") {
		t.Errorf("liteserver error: %v", err)
	}

	for _, code := range []int32{33, 133, 1032, 35, 135, 1035} {
		if ExitCodeHint(code) == "" {
			t.Errorf("no hint for exit code %d", code)
		}
	}
	if (&RejectedError{ExitCode: 999}).Error() != ErrRejected.Error()+" (exit code 999)" {
		t.Errorf("unknown code: %q", (&RejectedError{ExitCode: 999}).Error())
	}
}

func TestAccountStateFromTLB(t *testing.T) {
	code := cell.BeginCell().MustStoreUInt(1, 8).EndCell()
	data := cell.BeginCell().MustStoreUInt(2, 8).EndCell()
	state := func(status tlb.AccountStatus, nano uint64) *tlb.AccountState {
		st := &tlb.AccountState{IsValid: true}
		st.Status, st.Balance = status, tlb.FromNanoTONU(nano)
		return st
	}
	for _, tc := range []struct {
		name string
		acc  *tlb.Account
		want AccountState
	}{
		{"nil", nil, AccountState{Status: StatusNonExist}},
		{"not in the state", &tlb.Account{IsActive: false}, AccountState{Status: StatusNonExist}},
		{"uninit", &tlb.Account{IsActive: true, State: state(tlb.AccountStatusUninit, 7), LastTxLT: 5},
			AccountState{Status: StatusUninit, Balance: 7, LastTxLT: 5}},
		{"active", &tlb.Account{IsActive: true, State: state(tlb.AccountStatusActive, 9), Code: code, Data: data, LastTxLT: 6},
			AccountState{Status: StatusActive, Balance: 9, Code: code, Data: data, LastTxLT: 6}},
		{"frozen", &tlb.Account{IsActive: true, State: state(tlb.AccountStatusFrozen, 0), Code: code},
			AccountState{Status: StatusFrozen}},
	} {
		got, err := AccountStateFromTLB(tc.acc)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if got.Status != tc.want.Status || got.Balance != tc.want.Balance || got.Code != tc.want.Code ||
			got.Data != tc.want.Data || got.LastTxLT != tc.want.LastTxLT || got.Deployed() != (tc.want.Status == StatusActive) {
			t.Errorf("%s: got %+v, want %+v", tc.name, got, tc.want)
		}
	}
}
