package web

import (
	"fmt"
	"slices"

	"github.com/minefarm/cgminer-stack/receiver/config"
	"github.com/minefarm/cgminer-stack/receiver/repair"
	"github.com/minefarm/cgminer-stack/receiver/task"
)

// What each role may do (receiver.yml's people section; a user not listed is a viewer):
//
//	viewer      reads the board, task pages and the API
//	technician  ack, start, fixed, note on the tasks of their teams and on tasks assigned to them
//	lead        the same, and assign and cancel their teams' tasks (to people of that team)
//	admin       everything on every task (assign to anyone a task can go to), POST /-/reload
//
// "Their teams" are the teams that list the person as a member or as the lead. A task belongs to
// the team that took it (task.Team); a task no team took is the admins'.

// perms is what a user may do on one task; it decides which buttons a page shows.
type perms struct {
	Act    bool // ack, start, fixed, note
	Manage bool // assign, cancel
}

func permsFor(cfg *config.Config, user string, t task.Task) perms {
	if user == "" {
		return perms{}
	}
	switch cfg.RoleOf(user) {
	case config.Admin:
		return perms{Act: true, Manage: true}
	case config.Lead:
		mine := inTeam(cfg, user, t.Team)
		return perms{Act: mine || t.Assignee == user, Manage: mine}
	case config.Technician:
		return perms{Act: inTeam(cfg, user, t.Team) || t.Assignee == user}
	}
	return perms{}
}

func inTeam(cfg *config.Config, user, team string) bool {
	return team != "" && slices.Contains(cfg.TeamsOf(user), team)
}

func forbidden(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{repair.ErrForbidden}, args...)...)
}

// authorize decides whether user may do the action on the task as it is now; for assign, also
// whether the assignee is someone the task may go to. A nil error allows it.
func authorize(cfg *config.Config, user, action string, t task.Task, assignee string) error {
	p := permsFor(cfg, user, t)
	role := cfg.RoleOf(user)
	team := t.Team
	if team == "" {
		team = "(none)"
	}
	switch action {
	case "ack", "start", "fixed", "note":
		if p.Act {
			return nil
		}
		if role == config.Viewer {
			return forbidden("%s is a viewer and can only read", user)
		}
		return forbidden("task #%d belongs to team %s and is assigned to %s; %s can act only on the tasks of their teams %v and on tasks assigned to them",
			t.ID, team, orNobody(t.Assignee), user, cfg.TeamsOf(user))
	case "assign", "cancel":
		if !p.Manage {
			if role == config.Viewer {
				return forbidden("%s is a viewer and can only read", user)
			}
			return forbidden("only a lead of team %s or an admin can %s task #%d", team, action, t.ID)
		}
		if action == "assign" {
			return assignable(cfg, user, t, assignee)
		}
		return nil
	}
	return forbidden("unknown action %q", action)
}

// assignable: the assignee must be a configured person a task can go to (a member or lead of a
// team with a role that can act); a lead may hand the task only to people of its team.
func assignable(cfg *config.Config, user string, t task.Task, assignee string) error {
	if assignee == "" {
		return fmt.Errorf("%w: assignee is required", task.ErrInvalidInput)
	}
	if len(assignee) > maxUserLen || !cfg.Assignable(assignee) {
		return fmt.Errorf("%w: %q is not someone tasks can be assigned to (a member or lead of a team in receiver.yml)", task.ErrInvalidInput, truncate(assignee, maxUserLen))
	}
	if cfg.RoleOf(user) == config.Admin {
		return nil
	}
	if tm := cfg.Team(t.Team); tm == nil || !tm.Has(assignee) {
		return forbidden("%s is not in team %s; a lead assigns the team's tasks to its own people (an admin can assign elsewhere)", assignee, t.Team)
	}
	return nil
}

// assigneesFor lists whom the user may hand the task to (the assign form's choices).
func assigneesFor(cfg *config.Config, user string, t task.Task) []string {
	if !permsFor(cfg, user, t).Manage {
		return nil
	}
	var out []string
	for _, a := range cfg.Assignees() {
		if assignable(cfg, user, t, a) == nil {
			out = append(out, a)
		}
	}
	return out
}

func orNobody(s string) string {
	if s == "" {
		return "nobody"
	}
	return s
}
