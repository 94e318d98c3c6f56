package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"cloud.google.com/go/pubsub/v2"

	"github.com/turnstile-dev/turnstile/config"
	"github.com/turnstile-dev/turnstile/internal/events"
	tpubsub "github.com/turnstile-dev/turnstile/internal/pubsub"
	"github.com/turnstile-dev/turnstile/internal/pubsub/health"
	"github.com/turnstile-dev/turnstile/worker"
)

// names is the Pub/Sub topology of cfg.
func names(cfg config.Config) tpubsub.Names {
	return tpubsub.Names{
		Project:                cfg.Project,
		InputTopic:             cfg.InputTopic,
		Subscription:           cfg.Subscription,
		OutputTopic:            cfg.OutputTopic,
		DeadLetterTopic:        cfg.DeadLetterTopic,
		DeadLetterSubscription: cfg.DeadLetterSubscription,
	}
}

// pubsubClient connects to Pub/Sub (or the emulator PUBSUB_EMULATOR_HOST names).
func pubsubClient(ctx context.Context, cfg config.Config) (*pubsub.Client, error) {
	if cfg.Project == "" {
		return nil, errors.New("TURNSTILE_PROJECT (or GOOGLE_CLOUD_PROJECT) must name the Pub/Sub project")
	}
	return tpubsub.NewClient(ctx, cfg.Project, cfg.PubSubEmulatorHost)
}

// openPubSub loads the configuration and connects to its Pub/Sub; the
// caller closes the client.
func openPubSub(ctx context.Context, e *env) (config.Config, *pubsub.Client, error) {
	cfg, _, err := loadConfig(e)
	if err != nil {
		return cfg, nil, err
	}
	client, err := pubsubClient(ctx, cfg)
	return cfg, client, err
}

func runSetup(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "setup", "")
	if err := parseArgs(e, fs, args, nil, false); err != nil {
		return err
	}
	cfg, client, err := openPubSub(ctx, e)
	if err != nil {
		return err
	}
	defer client.Close()
	rep, err := tpubsub.Setup(ctx, client, names(cfg), tpubsub.SetupOptions{MaxDeliveryAttempts: cfg.MaxDeliveryAttempts})
	if err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	wh, err := connectWarehouse(ctx, cfg)
	if err != nil {
		return err
	}
	defer wh.Close()
	created, err := wh.EnsureSchema(ctx)
	if err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	changed := rep.Changed()
	for _, r := range rep.Resources {
		fmt.Fprintf(e.stdout, "%-8s %-13s %s%s\n", r.Action, r.Kind, r.Name, detail(r.Detail))
	}
	for _, t := range created {
		fmt.Fprintf(e.stdout, "%-8s %-13s %s\n", tpubsub.Created, "table", t)
		changed = true
	}
	if !changed {
		fmt.Fprintln(e.stdout, "nothing to do: every topic, subscription and table already exists as configured")
	}
	return nil
}

func detail(d string) string {
	if d == "" {
		return ""
	}
	return " (" + d + ")"
}

func runPublish(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "publish", "--partition YYYY-MM-DD [--run-id ID] [--conversation-count N]")
	var part partitionFlag
	fs.Var(&part, "partition", "partition the event announces (YYYY-MM-DD)")
	runID := fs.String("run-id", "", "stage-5 run id (default: generated)")
	count := fs.Int64("conversation-count", -1, "conversation_count of the event (default: none)")
	if err := parseArgs(e, fs, args, &part, false); err != nil {
		return err
	}
	cfg, client, err := openPubSub(ctx, e)
	if err != nil {
		return err
	}
	defer client.Close()
	now := time.Now().UTC()
	ev := events.Stage5{RunID: *runID, PartitionDate: part.day, CompletedAt: &now}
	if ev.RunID == "" {
		ev.RunID = newRunID(now)
	}
	if *count >= 0 {
		ev.ConversationCount = count
	}
	id, err := tpubsub.PublishStage5(ctx, client, cfg.InputTopic, ev)
	if err != nil {
		return err
	}
	return writeJSON(e.stdout, map[string]string{
		"message_id": id, "topic": cfg.InputTopic, "partition_date": part.day.String(), "run_id": ev.RunID,
	})
}

func runServe(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "serve", "")
	if err := parseArgs(e, fs, args, nil, false); err != nil {
		return err
	}
	cfg, err := config.Load()
	if err != nil {
		return err
	}
	level, _ := cfg.SlogLevel()
	logger := slog.New(slog.NewJSONHandler(e.stderr, &slog.HandlerOptions{Level: level}))
	logger.Info("starting", "config", cfg)

	client, err := pubsubClient(ctx, cfg)
	if err != nil {
		return err
	}
	defer client.Close()
	wh, err := openWarehouse(ctx, cfg)
	if err != nil {
		return err
	}
	defer wh.Close()

	w := &tpubsub.Worker{
		Client:              client,
		Names:               names(cfg),
		Processor:           &worker.Processor{Warehouse: wh, TurnsTable: wh.TurnsTableName(), Logger: logger},
		MaxConcurrent:       cfg.MaxConcurrentPartitions,
		MaxDeliveryAttempts: cfg.MaxDeliveryAttempts,
		ShutdownTimeout:     cfg.ShutdownTimeout,
		Logger:              logger,
	}
	ready := func(ctx context.Context) error {
		if err := w.CheckReady(ctx); err != nil {
			return err
		}
		if err := wh.Ping(ctx); err != nil {
			return fmt.Errorf("warehouse: %w", err)
		}
		return nil
	}
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("health endpoint on %s: %w", cfg.HTTPAddr, err)
	}
	srv := &http.Server{Handler: health.Handler(ready), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("health endpoint stopped", "error", err)
		}
	}()
	logger.Info("serving", "subscription", cfg.Subscription, "health", ln.Addr().String(), "warehouse", cfg.Warehouse)

	runErr := w.Run(ctx)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutdownCtx)
	if runErr != nil {
		return fmt.Errorf("serve: %w", runErr)
	}
	logger.Info("stopped")
	return nil
}
