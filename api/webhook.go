package api

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/ctlsup/ctlsup/supervisor"
)

// webhookQueue bounds the events waiting for a slow receiver; the oldest
// are dropped (and said in the log) beyond it.
const webhookQueue = 1000

// StartWebhook POSTs every event of the given types to url as JSON, one
// request per event, in order, from a goroutine of its own: a receiver
// that is slow or down delays and loses only its own events, never a
// process. Each body has the event's name, serial, time and payload, and
// the payload's key:value fields. It stops when the engine closes.
func StartWebhook(sup *supervisor.Supervisor, url string, types []string, log *slog.Logger) {
	var mu sync.Mutex
	var queue []supervisor.Event
	wake := make(chan struct{}, 1)
	cancel := sup.Subscribe(types, func(ev supervisor.Event) {
		mu.Lock()
		if len(queue) >= webhookQueue {
			log.Warn("webhook too slow: dropping the oldest event", "url", url, "serial", queue[0].Serial)
			queue = queue[1:]
		}
		queue = append(queue, ev)
		mu.Unlock()
		select {
		case wake <- struct{}{}:
		default:
		}
	})
	client := &http.Client{Timeout: 5 * time.Second}
	go func() {
		defer cancel()
		for {
			select {
			case <-wake:
			case <-sup.Done():
				return
			}
			for {
				mu.Lock()
				if len(queue) == 0 {
					mu.Unlock()
					break
				}
				ev := queue[0]
				queue = queue[1:]
				mu.Unlock()
				post(client, url, ev, log)
			}
		}
	}()
}

func post(client *http.Client, url string, ev supervisor.Event, log *slog.Logger) {
	body := map[string]any{"event": ev.Type, "serial": ev.Serial, "time": time.Now().UTC().Format(time.RFC3339Nano), "payload": ev.Payload}
	head, _, _ := strings.Cut(ev.Payload, "\n")
	for _, kv := range strings.Fields(head) {
		if k, v, ok := strings.Cut(kv, ":"); ok {
			body[k] = v
		}
	}
	b, _ := json.Marshal(body)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "ctlsupd")
	resp, err := client.Do(req)
	if err != nil {
		log.Warn("webhook failed", "url", url, "event", ev.Type, "err", err)
		return
	}
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		log.Warn("webhook refused the event", "url", url, "event", ev.Type, "status", resp.StatusCode)
	}
}
