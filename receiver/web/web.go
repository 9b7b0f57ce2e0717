// Package web serves the receiver over HTTP: the Alertmanager webhook (bearer token), the repair
// board and task pages for technicians (server-rendered, no JavaScript needed), the JSON API,
// metrics and health. Everything but the webhook and the health probes requires a user from the
// web config file (basic auth, bcrypt); HTML forms carry a CSRF token and cross-origin POSTs are
// refused. /metrics is open (read-only, no secrets) so Prometheus scrapes it without credentials.
package web

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	toolkit "github.com/prometheus/exporter-toolkit/web"
	"go.yaml.in/yaml/v2"
	"golang.org/x/time/rate"

	"github.com/minefarm/cgminer-stack/receiver/config"
	"github.com/minefarm/cgminer-stack/receiver/repair"
	"github.com/minefarm/cgminer-stack/receiver/store"
	"github.com/minefarm/cgminer-stack/receiver/task"
)

//go:embed templates/*.html
var templateFS embed.FS

// Options wire a server.
type Options struct {
	Service *repair.Service
	Store   store.Store
	Config  func() *config.Config
	// Users are the web config's users (NewUsers); none: the board and API are read-only for
	// anyone, nobody can change anything.
	Users    func() *Users
	Reload   func() error
	Logger   *slog.Logger
	Registry *prometheus.Registry
	Metrics  *repair.Metrics
	Now      func() time.Time
	// Login bounds sign-in work (zero: DefaultLoginLimits).
	Login LoginLimits
	// MaxPageBytes bounds a rendered page or JSON answer (0: 8 MiB).
	MaxPageBytes int
}

// Server is the HTTP side of the receiver.
type Server struct {
	o        Options
	tmpl     *template.Template
	csrfKey  []byte
	requests *prometheus.CounterVec
	alerts   *prometheus.CounterVec
	denied   *prometheus.CounterVec
	refused  *prometheus.CounterVec
	auth     *authenticator
	// throttleLog keeps a flood of refused sign-ins from becoming a flood of log lines.
	throttleLog rate.Sometimes
}

// New makes a server and registers the webhook metrics.
func New(o Options) (*Server, error) {
	tmpl, err := template.New("").Funcs(funcs).ParseFS(templateFS, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("parse templates: %w", err)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("csrf key: %w", err)
	}
	if o.Now == nil {
		o.Now = func() time.Time { return time.Now().UTC() }
	}
	if o.MaxPageBytes <= 0 {
		o.MaxPageBytes = defaultMaxPage
	}
	s := &Server{o: o, tmpl: tmpl, csrfKey: key, auth: newAuthenticator(o.Login, o.Now), throttleLog: rate.Sometimes{Interval: 10 * time.Second},
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "repair_receiver_webhook_requests_total",
			Help: "Webhook deliveries, by result."}, []string{"result"}),
		alerts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "repair_receiver_webhook_alerts_total",
			Help: "Alerts received through the webhook, by status (firing, resolved; also rejected, and trimmed: taken with an annotation cut or a field dropped)."}, []string{"status"}),
		denied: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "repair_receiver_actions_denied_total",
			Help: "Actions on tasks (and reloads) refused with 403 because the user's role does not allow them, by action."}, []string{"action"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "repair_receiver_requests_refused_total",
			Help: "Board, task page and API requests refused for their size or shape, by reason."}, []string{"reason"}),
	}
	for _, r := range []string{"ok", "bad_request", "unauthorized", "store_error", "too_large", "rejected_alerts"} {
		s.requests.WithLabelValues(r)
	}
	s.alerts.WithLabelValues("firing")
	s.alerts.WithLabelValues("resolved")
	s.alerts.WithLabelValues("rejected")
	s.alerts.WithLabelValues("trimmed")
	for a := range actions {
		s.denied.WithLabelValues(a)
	}
	s.denied.WithLabelValues("reload")
	for _, r := range []string{"query_too_long", "bad_query", "body_too_large", "bad_input", "answer_too_large"} {
		s.refused.WithLabelValues(r)
	}
	if o.Registry != nil {
		o.Registry.MustRegister(s.requests, s.alerts, s.denied, s.refused, s.auth.failures, s.auth.throttled)
	}
	return s, nil
}

// Handler returns the routes.
func (s *Server) Handler() http.Handler {
	open := http.NewServeMux()
	open.HandleFunc("POST /api/v1/alerts", s.webhook)
	open.HandleFunc("GET /-/healthy", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "Healthy") })
	open.HandleFunc("GET /-/ready", s.ready)
	open.HandleFunc("GET /static/board.js", boardJS)
	// /metrics is read-only and holds no secrets; the repository's prometheus.yml scrapes it without
	// credentials. Everything that changes state or shows tasks needs a user.
	if s.o.Registry != nil {
		open.Handle("GET /metrics", promhttp.HandlerFor(s.o.Registry, promhttp.HandlerOpts{Registry: s.o.Registry}))
	}

	auth := http.NewServeMux()
	auth.HandleFunc("GET /{$}", s.board)
	auth.HandleFunc("GET /tasks/{id}", s.taskPage)
	auth.HandleFunc("POST /tasks/{id}/{action}", s.formAction)
	auth.HandleFunc("GET /api/v1/tasks", s.apiList)
	auth.HandleFunc("GET /api/v1/tasks/{id}", s.apiGet)
	auth.HandleFunc("POST /api/v1/tasks/{id}/{action}", s.apiAction)
	auth.HandleFunc("POST /-/reload", s.reload)
	cop := http.NewCrossOriginProtection()
	protected := s.bounded(cop.Handler(s.basicAuth(auth)))

	mux := http.NewServeMux()
	mux.Handle("POST /api/v1/alerts", open)
	mux.Handle("/-/healthy", open)
	mux.Handle("/-/ready", open)
	mux.Handle("/metrics", open)
	mux.Handle("/static/", open)
	mux.Handle("/", protected)
	return mux
}

// bounded refuses an overlong query string before any other work (sign-in included).
func (s *Server) bounded(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := checkQuery(r); err != nil {
			s.refuse(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// refuse answers a request refused for its shape or size: JSON on the API, an error page elsewhere.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, err error) {
	code := queryStatus(err)
	reason := "bad_query"
	if code == http.StatusRequestURITooLong {
		reason = "query_too_long"
	}
	s.refused.WithLabelValues(reason).Inc()
	if strings.HasPrefix(r.URL.Path, "/api/") {
		writeJSONError(w, code, err.Error())
		return
	}
	s.errorPage(w, r, code, err.Error())
}

func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	if err := s.o.Store.Ping(ctx); err != nil {
		s.o.Metrics.StoreErrors.WithLabelValues("ping").Inc()
		http.Error(w, "store not ready", http.StatusServiceUnavailable)
		return
	}
	// Reads answering is not enough: not ready while the store's commits fail (repair.Service.Ready).
	if s.o.Service != nil {
		if err := s.o.Service.Ready(ctx); err != nil {
			http.Error(w, "store not ready: its writes fail (see the log and repair_receiver_store_commit_failures_total)", http.StatusServiceUnavailable)
			return
		}
	}
	fmt.Fprintln(w, "Ready")
}

func (s *Server) reload(w http.ResponseWriter, r *http.Request) {
	if user := userOf(r); s.o.Config().RoleOf(user) != config.Admin {
		s.denied.WithLabelValues("reload").Inc()
		http.Error(w, fmt.Sprintf("%s may not reload the configuration: admins only", user), http.StatusForbidden)
		return
	}
	if s.o.Reload == nil {
		http.Error(w, "reload not supported", http.StatusNotImplemented)
		return
	}
	if err := s.o.Reload(); err != nil {
		http.Error(w, fmt.Sprintf("reload failed: %v", err), http.StatusInternalServerError)
		return
	}
	fmt.Fprintln(w, "config reloaded")
}

type ctxKey struct{}

// userOf is the authenticated user of a request ("" when the server has no users).
func userOf(r *http.Request) string {
	u, _ := r.Context().Value(ctxKey{}).(string)
	return u
}

// basicAuth lets a request through with a checked user. Failed sign-ins are throttled per address
// and per user name (429 with Retry-After, before any bcrypt work); bcrypt runs on a bounded pool.
func (s *Server) basicAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		users := s.o.Users()
		if users.Len() == 0 {
			// Reading is open when no users are configured; changing anything needs a user.
			if r.Method != http.MethodGet && r.Method != http.MethodHead {
				http.Error(w, "no users configured: set basic_auth_users in --web.config.file to act on tasks", http.StatusForbidden)
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		user, pass, ok := r.BasicAuth()
		v := denied
		var retry time.Duration
		if ok {
			v, retry = s.auth.check(r.Context(), users, r.RemoteAddr, user, pass)
		}
		switch v {
		case allowed:
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, user)))
		case throttled:
			s.throttleLog.Do(func() {
				s.o.Logger.Warn("sign-ins throttled (logged at most every 10 s; see repair_receiver_logins_throttled_total)",
					"remote", r.RemoteAddr, "user", truncate(user, maxUserLen), "retry_after", retry)
			})
			retryAfter(w, retry)
			http.Error(w, "too many failed sign-ins; try again later", http.StatusTooManyRequests)
		case busy:
			retryAfter(w, retry)
			http.Error(w, "too many sign-ins being checked; try again", http.StatusTooManyRequests)
		default:
			w.Header().Set("WWW-Authenticate", `Basic realm="repair_receiver", charset="UTF-8"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
		}
	})
}

// csrfToken is bound to the user and this process: HMAC(key, user).
func (s *Server) csrfToken(user string) string {
	m := hmac.New(sha256.New, s.csrfKey)
	m.Write([]byte("csrf\x00" + user))
	return hex.EncodeToString(m.Sum(nil))
}

func (s *Server) validCSRF(r *http.Request) bool {
	got := r.PostFormValue("csrf_token")
	want := s.csrfToken(userOf(r))
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// status maps an error to an HTTP status.
func status(err error) int {
	switch {
	case errors.Is(err, repair.ErrForbidden):
		return http.StatusForbidden
	case errors.Is(err, task.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, task.ErrInvalidTransition):
		return http.StatusConflict
	case errors.Is(err, task.ErrInvalidInput):
		return http.StatusBadRequest
	default:
		return http.StatusServiceUnavailable
	}
}

// WebConfig is what the receiver reads from --web.config.file itself: the users. TLS settings are
// handed to exporter-toolkit.
type WebConfig struct {
	Users *Users
	TLS   *toolkit.TLSConfig
	Path  string
}

// LoadWebConfig validates the file with exporter-toolkit and reads its users and TLS settings. The
// dummy hash for unknown user names is made here, once per load, at the users' highest cost.
func LoadWebConfig(path string) (*WebConfig, error) {
	if path == "" {
		u, _ := NewUsers(nil)
		return &WebConfig{Users: u}, nil
	}
	if err := toolkit.Validate(path); err != nil {
		return nil, fmt.Errorf("web config %s: %w", path, err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("web config: %w", err)
	}
	c := toolkit.Config{
		TLSConfig:  toolkit.TLSConfig{MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS13},
		HTTPConfig: toolkit.HTTPConfig{HTTP2: true},
	}
	if err := yaml.UnmarshalStrict(b, &c); err != nil {
		return nil, fmt.Errorf("web config %s: %w", path, err)
	}
	hashes := map[string]string{}
	for u, h := range c.Users {
		hashes[u] = string(h)
	}
	users, err := NewUsers(hashes)
	if err != nil {
		return nil, fmt.Errorf("web config %s: %w", path, err)
	}
	out := &WebConfig{Users: users, Path: path}
	if c.TLSConfig.IsEnabled() {
		tc := c.TLSConfig
		tc.SetDirectory(filepath.Dir(path))
		out.TLS = &tc
	}
	return out, nil
}
