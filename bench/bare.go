package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/gin-gonic/gin"
)

// bareGinEnv makes the bench binary serve the ceiling instead of
// benchmarking: a bare Gin engine answering a fixed page, no middleware.
// Every throughput figure is reported as a ratio to it, measured in the
// same run (scenario 0), so the targets do not move with the machine.
const bareGinEnv = "GATEHOUSE_BENCH_BARE_GIN"

// serveBareGin listens on 127.0.0.1 (a free port), prints its address the
// way Gatehouse does, and serves until SIGTERM.
func serveBareGin() error {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	ok := []byte("ok")
	r.GET("/healthz", func(c *gin.Context) { c.Data(http.StatusOK, "text/plain; charset=utf-8", ok) })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Printf("Gatehouse listening on http://%s/\n", ln.Addr())
	srv := &http.Server{Handler: r}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() { <-ctx.Done(); _ = srv.Close() }()
	if err := srv.Serve(ln); err != http.ErrServerClosed {
		return err
	}
	return nil
}
