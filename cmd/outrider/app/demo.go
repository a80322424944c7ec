package app

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/outrider/outrider/actors"
	"github.com/outrider/outrider/actors/user"
	"github.com/outrider/outrider/internal/password"
	"github.com/outrider/outrider/persistence"
	pb "github.com/outrider/outrider/proto/outriderpb"
)

// DemoAccount is one of the accounts `outrider dev` creates on first start.
type DemoAccount struct {
	Role     string `json:"role"`
	Name     string `json:"name"`
	Email    string `json:"email"`
	Password string `json:"password"`
}

// demoFile keeps the demo passwords (random per data dir) so every start
// can print them; it is readable by the owner only.
const demoFile = "demo-accounts.json"

// SeedDemo creates one admin, one customer and two available drivers the
// first time it runs on dataDir, and returns them (with passwords) every
// time. Creation goes through the actors like any other signup.
func (n *Node) SeedDemo(ctx context.Context, dataDir string) ([]DemoAccount, error) {
	path := filepath.Join(dataDir, demoFile)
	var accounts []DemoAccount
	if b, err := os.ReadFile(path); err == nil {
		if err := json.Unmarshal(b, &accounts); err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
	} else if errors.Is(err, os.ErrNotExist) {
		accounts = []DemoAccount{
			{Role: actors.RoleAdmin, Name: "Ada Admin", Email: "admin@demo.outrider"},
			{Role: actors.RoleCustomer, Name: "Cory Customer", Email: "customer@demo.outrider"},
			{Role: actors.RoleDriver, Name: "Dana Driver", Email: "driver1@demo.outrider"},
			{Role: actors.RoleDriver, Name: "Dev Driver", Email: "driver2@demo.outrider"},
		}
		for i := range accounts {
			accounts[i].Password = randomPassword()
		}
		b, _ := json.MarshalIndent(accounts, "", "  ")
		if err := os.WriteFile(path, b, 0o600); err != nil {
			return nil, fmt.Errorf("write %s: %w", path, err)
		}
	} else {
		return nil, err
	}
	for _, a := range accounts {
		if err := n.ensureDemoAccount(ctx, a); err != nil {
			return nil, fmt.Errorf("demo account %s: %w", a.Email, err)
		}
	}
	return accounts, nil
}

func (n *Node) ensureDemoAccount(ctx context.Context, a DemoAccount) error {
	if _, err := n.store.GetUserByEmail(ctx, user.NormalizeEmail(a.Email)); err == nil {
		return nil
	} else if !errors.Is(err, persistence.ErrNotFound) {
		return err
	}
	hash, err := password.Hash(a.Password, n.cfg.HTTP.BcryptCost)
	if err != nil {
		return err
	}
	id := "usr_" + ulid.Make().String()
	system := &pb.Principal{UserId: "system", Role: actors.RoleSystem}
	reply, err := n.cluster.User(ctx, id, &pb.UserCommand{
		CommandId: "demo-" + a.Email, By: system, AtMs: time.Now().UnixMilli(),
		Body: &pb.UserCommand_Create{Create: &pb.CreateUser{Email: a.Email, Name: a.Name, Role: a.Role, PasswordHash: hash}},
	})
	if err != nil {
		return err
	}
	if rej := reply.GetRejection(); rej != nil {
		return fmt.Errorf("%s: %s", rej.Code, rej.Message)
	}
	if a.Role != actors.RoleDriver {
		return nil
	}
	dr, err := n.cluster.Driver(ctx, id, &pb.DriverCommand{
		CommandId: "demo-available-" + a.Email, By: system, AtMs: time.Now().UnixMilli(),
		Body: &pb.DriverCommand_SetAvailability{SetAvailability: &pb.SetAvailability{Available: true}},
	})
	if err != nil {
		return err
	}
	if rej := dr.GetRejection(); rej != nil {
		return fmt.Errorf("%s: %s", rej.Code, rej.Message)
	}
	return nil
}

func randomPassword() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
