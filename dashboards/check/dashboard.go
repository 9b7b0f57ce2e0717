// Package check holds the PromQL side of the dashboard checks: it finds every Prometheus expression
// in a Grafana dashboard (panel targets and template variable queries), turns Grafana's variables
// into values the PromQL parser accepts, names the metrics each expression uses, and knows which
// metric names exist (from the contract documents and the recording rules).
//
// The expressions themselves are parsed by promtool (Promtool), the real Prometheus parser, so the
// module does not need github.com/prometheus/prometheus.
package check

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// Expr is one PromQL expression found in a dashboard.
type Expr struct {
	// Where names it for a person: file, panel and target, or variable.
	Where string
	// Raw is the expression as written, with Grafana variables.
	Raw string
	// PromQL is Raw with every variable replaced by a value (see Substitute).
	PromQL string
	// Collapsed is set for a panel inside a collapsed row: Grafana runs it only when the row opens.
	Collapsed bool
}

// dashboard is the part of Grafana's dashboard model this package reads.
type dashboard struct {
	UID        string  `json:"uid"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []variable `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID        int      `json:"id"`
	Type      string   `json:"type"`
	Title     string   `json:"title"`
	Targets   []target `json:"targets"`
	Collapsed bool     `json:"collapsed"`
	Panels    []panel  `json:"panels"` // a collapsed row's panels
}

type target struct {
	RefID string `json:"refId"`
	Expr  string `json:"expr"`
}

type variable struct {
	Name  string          `json:"name"`
	Type  string          `json:"type"`
	Query json.RawMessage `json:"query"`
}

// Exprs reads a dashboard file and returns every PromQL expression in it, with variables substituted.
// An expression that uses a variable the dashboard does not define is an error, as is a target of a
// Prometheus panel without an expression.
func Exprs(path string) ([]Expr, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var d dashboard
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	name := filepath.Base(path)
	// Every variable stands for label values inside a matcher's quotes, where any text parses;
	// a constant stands for itself (it may be a number an expression computes with).
	values := map[string]string{}
	var errs []string
	for _, v := range d.Templating.List {
		values[v.Name] = "x"
		if v.Type == "constant" {
			c, err := variableQuery(v.Query)
			if err != nil {
				errs = append(errs, fmt.Sprintf("%s: constant %q: %v", name, v.Name, err))
			}
			values[v.Name] = c
		}
	}

	var out []Expr
	add := func(where, raw string, collapsed bool) {
		promql, err := SubstituteValues(raw, values)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", where, err))
			return
		}
		out = append(out, Expr{Where: where, Raw: raw, PromQL: promql, Collapsed: collapsed})
	}

	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		q, err := variableQuery(v.Query)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: variable %q: %v", name, v.Name, err))
			continue
		}
		expr, err := VariableExpr(q)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: variable %q: %v", name, v.Name, err))
			continue
		}
		if expr != "" {
			add(fmt.Sprintf("%s: variable %q", name, v.Name), expr, false)
		}
	}

	var walk func([]panel, bool)
	walk = func(ps []panel, collapsed bool) {
		for _, p := range ps {
			walk(p.Panels, collapsed || p.Collapsed)
			for _, t := range p.Targets {
				where := fmt.Sprintf("%s: panel %d %q target %s", name, p.ID, p.Title, t.RefID)
				if strings.TrimSpace(t.Expr) == "" {
					errs = append(errs, where+": no expr")
					continue
				}
				add(where, t.Expr, collapsed)
			}
		}
	}
	walk(d.Panels, false)

	if len(errs) > 0 {
		return out, fmt.Errorf("%s", strings.Join(errs, "\n"))
	}
	return out, nil
}

// variableQuery accepts both shapes Grafana stores: a plain string, or {"query": "...", "refId": ...}.
func variableQuery(raw json.RawMessage) (string, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var o struct {
		Query string `json:"query"`
	}
	if err := json.Unmarshal(raw, &o); err != nil {
		return "", fmt.Errorf("query is neither a string nor an object with a query: %w", err)
	}
	return o.Query, nil
}

var (
	labelValuesRe = regexp.MustCompile(`^\s*label_values\(\s*(.*?)\s*,\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)\s*$`)
	labelOnlyRe   = regexp.MustCompile(`^\s*label_values\(\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)\s*$`)
	wrappedRe     = regexp.MustCompile(`^\s*(query_result|metrics|label_names)\(\s*(.*?)\s*\)\s*$`)
)

// VariableExpr returns the PromQL inside a Prometheus template variable query: the selector of
// label_values(selector, label), the expression of query_result(expr), the selector of
// label_names(selector). It returns "" for label_values(label) and metrics(regex), which hold none.
func VariableExpr(q string) (string, error) {
	if m := labelValuesRe.FindStringSubmatch(q); m != nil {
		return m[1], nil
	}
	if labelOnlyRe.MatchString(q) {
		return "", nil
	}
	if m := wrappedRe.FindStringSubmatch(q); m != nil {
		switch m[1] {
		case "metrics":
			return "", nil
		case "label_names":
			return m[2], nil // may be "": label_names() holds no expression
		}
		if m[2] == "" {
			return "", fmt.Errorf("empty %s()", m[1])
		}
		return m[2], nil
	}
	return "", fmt.Errorf("not a Prometheus variable query (label_values, query_result, label_names, metrics): %q", q)
}

// Problems checks one dashboard file: every expression parses (promtool) and uses only known
// metrics. It returns what is wrong, one line per problem, each naming the panel or variable; an
// error only when the check itself could not run.
func Problems(ctx context.Context, path string, known Known, pt Promtool) ([]string, error) {
	var problems []string
	exprs, err := Exprs(path)
	if err != nil {
		problems = append(problems, strings.Split(err.Error(), "\n")...)
	}
	if len(exprs) == 0 && err == nil {
		problems = append(problems, fmt.Sprintf("%s: no PromQL expressions", filepath.Base(path)))
	}
	perrs, err := pt.Check(ctx, exprs)
	if err != nil {
		return nil, err
	}
	for _, pe := range perrs {
		problems = append(problems, pe.Error())
	}
	for _, e := range exprs {
		names, err := Metrics(e.PromQL)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", e.Where, err))
			continue
		}
		for _, n := range names {
			if _, ok := known[n]; !ok {
				problems = append(problems, fmt.Sprintf("%s: unknown metric %s (not in the contract tables, docs/contract-additions.md or rules/)", e.Where, n))
			}
		}
	}
	return problems, nil
}
