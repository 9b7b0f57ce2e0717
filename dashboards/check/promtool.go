package check

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Promtool parses expressions with the real Prometheus parser: it writes them as recording rules
// of one temporary rule file and runs `promtool check rules` on it. Bin is promtool's path.
type Promtool struct {
	Bin string
	// Dir holds the temporary rule file.
	Dir string
}

// ParseError is an expression promtool would not accept, with what promtool said.
type ParseError struct {
	Expr    Expr
	Message string
}

func (e ParseError) Error() string {
	return fmt.Sprintf("%s: %s\n\t%s", e.Expr.Where, e.Message, e.Expr.Raw)
}

type ruleOut struct {
	Record string `yaml:"record"`
	Expr   string `yaml:"expr"`
}

type groupOut struct {
	Name  string    `yaml:"name"`
	Rules []ruleOut `yaml:"rules"`
}

// "dashboard_expr_12": could not parse expression: 1:5: parse error: …
var ruleErrRe = regexp.MustCompile(`"dashboard_expr_(\d+)": (.*)`)

// Check parses every expression. It returns one ParseError per expression promtool rejects, or an
// error of its own when promtool could not be run or failed in a way no expression explains.
func (p Promtool) Check(ctx context.Context, exprs []Expr) ([]ParseError, error) {
	if len(exprs) == 0 {
		return nil, nil
	}
	g := groupOut{Name: "dashboards"}
	for i, e := range exprs {
		g.Rules = append(g.Rules, ruleOut{Record: fmt.Sprintf("dashboard_expr_%d", i), Expr: e.PromQL})
	}
	data, err := yaml.Marshal(map[string][]groupOut{"groups": {g}})
	if err != nil {
		return nil, fmt.Errorf("writing rule file: %w", err)
	}
	f, err := os.CreateTemp(p.Dir, "dashboard-exprs-*.yml")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}

	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, p.Bin, "check", "rules", f.Name())
	cmd.Stdout, cmd.Stderr = &out, &out
	runErr := cmd.Run()
	if runErr == nil {
		return nil, nil
	}
	if _, ok := runErr.(*exec.ExitError); !ok {
		return nil, fmt.Errorf("running %s: %w", p.Bin, runErr)
	}
	var perrs []ParseError
	for _, m := range ruleErrRe.FindAllStringSubmatch(out.String(), -1) {
		i, _ := strconv.Atoi(m[1])
		if i < len(exprs) {
			perrs = append(perrs, ParseError{Expr: exprs[i], Message: strings.TrimSpace(m[2])})
		}
	}
	if len(perrs) == 0 {
		return nil, fmt.Errorf("%s check rules %s failed: %w\n%s", filepath.Base(p.Bin), f.Name(), runErr, out.String())
	}
	return perrs, nil
}
