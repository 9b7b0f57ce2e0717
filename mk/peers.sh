#!/usr/bin/env bash
# Builds one pinned peer from its Go module, with its web UI, into a folder of its own.
#
#   mk/peers.sh prometheus   v0.316.0 .tools/prometheus-v0.316.0     prometheus, promtool
#   mk/peers.sh alertmanager v0.35.0  .tools/alertmanager-v0.35.0    alertmanager, amtool
#   mk/peers.sh mailpit      v1.33.1  .tools/mailpit-v1.33.1         mailpit
#
# `go install module/cmd/x@version` builds these without their web UIs: Prometheus then answers
# every UI page with 500 ("Error opening React index.html") unless started from a folder holding
# web/ui/static, Alertmanager does not build at all (ui/web.go embeds ui/app/dist, which the module
# zip lacks), and mailpit serves an index whose scripts are 404. So each is built the way upstream
# builds a release, from a copy of the module source in a temporary folder: the UI with npm or
# pnpm from the module's own lockfile, then `go build -trimpath` with the release's tags and
# version ldflags. Only the finished folder is moved into place, so an interrupted build leaves
# nothing that looks done. Needs go, node >= 20.19 and npm; pnpm comes from npm.
#
# Departures from upstream's lockfiles, each because the npm registry reachable from this project's
# machines does not serve the locked version (the same pins work against the public registry):
#   Prometheus, Alertmanager: @mantine/* 9.6.2 (code-highlight 9.7.x is absent).
#   mailpit: sass-embedded 1.108.2 (1.108.1 absent), rapidoc 9.3.8 (12.x absent; only its API page).
# Alertmanager's classic UI is Elm: its compiler fetches packages from the Elm package site, which
# is not reachable, so "/" serves a page saying so and linking the new UI (/ui/: status and config
# pages; in 0.35 its alert and silence lists are still placeholders upstream).
set -euo pipefail
# The whole script is one compound command, read in full before it runs: editing it while a build
# runs cannot change the running build.
{

peer=${1:?peer}
version=${2:?version}
dest=${3:?destination folder}
GO=${GO:-go}
NPM=${NPM:-npm}
PNPM_VERSION=${PNPM_VERSION:-12.23.0}

dest=$(mkdir -p "$(dirname "$dest")" && cd "$(dirname "$dest")" && pwd)/$(basename "$dest")
work=$(mktemp -d "${TMPDIR:-/tmp}/cgminer-stack-$peer.XXXXXX")
cleanup() { chmod -R u+w "$work" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
log() { printf '>> %s %s: %s\n' "$peer" "$version" "$*" >&2; }

need() {
	command -v "$1" >/dev/null || { echo "FATAL: building $peer needs $1 ($2)" >&2; exit 1; }
}
need "$GO" "Go 1.26"
need node "Node.js >= 20.19; Debian: apt-get install nodejs"
need "$NPM" "npm"
node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a==20&&b>=19)?0:1)' ||
	{ echo "FATAL: building $peer's web UI needs Node.js >= 20.19 (vite 8), found $(node --version)" >&2; exit 1; }

# module_source copies the module's source (from the module cache, downloading it through the proxy)
# into $work/src, writable.
module_source() {
	local dir
	dir=$(cd "$work" && GOFLAGS= "$GO" mod download -json "$1@$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
	[ -d "$dir" ] || { echo "FATAL: go mod download $1@$version gave no source folder" >&2; exit 1; }
	cp -r "$dir" "$work/src"
	chmod -R u+w "$work/src"
}

# gobuild builds packages of the copied module into $work/out with the given tags and ldflags.
gobuild() {
	local tags=$1 ldflags=$2
	shift 2
	log "go build $*"
	(cd "$work/src" && GOWORK=off GOFLAGS=-mod=readonly CGO_ENABLED=0 \
		"$GO" build -trimpath -tags "$tags" -ldflags "$ldflags" -o "$work/out/" "$@")
}

# version ldflags as promu sets them for a Prometheus-project release.
promu_ldflags() {
	local v=github.com/prometheus/common/version
	echo "-X $v.Version=$(cat "$work/src/VERSION") -X $v.Revision=$version -X $v.Branch=module -X $v.BuildUser=cgminer-stack"
}

npm_() { "$NPM" --no-audit --no-fund --loglevel=error "$@"; }

case $peer in
prometheus)
	module_source github.com/prometheus/prometheus
	ui=$work/src/web/ui
	log "pnpm $PNPM_VERSION"
	npm_ install --prefix "$work/pnpm" "pnpm@$PNPM_VERSION" >/dev/null
	pnpm=$work/pnpm/node_modules/.bin/pnpm
	# @mantine/* 9.6.2 (see above). The lockfile still names code-highlight 9.7.2, which pnpm's
	# minimumReleaseAge check cannot look up before it re-resolves: exclude that one entry.
	sed -i "s|^minimumReleaseAgeExclude:|minimumReleaseAgeExclude:\n  - '@mantine/code-highlight@9.7.2'|" "$ui/pnpm-workspace.yaml"
	cat >>"$ui/pnpm-workspace.yaml" <<-'EOF'
	overrides:
	  '@mantine/code-highlight': 9.6.2
	  '@mantine/core': 9.6.2
	  '@mantine/dates': 9.6.2
	  '@mantine/hooks': 9.6.2
	  '@mantine/notifications': 9.6.2
	  '@mantine/store': 9.6.2
	EOF
	log "pnpm install (web/ui)"
	(cd "$ui" && "$pnpm" install --no-frozen-lockfile --reporter=silent)
	log "pnpm run build:mantine-ui"
	(cd "$ui" && PATH="$work/pnpm/node_modules/.bin:$PATH" CI= "$pnpm" run --silent build:mantine-ui >"$work/ui-build.log" 2>&1) ||
		{ tail -40 "$work/ui-build.log" >&2; exit 1; }
	[ -f "$ui/static/mantine-ui/index.html" ] || { echo "FATAL: the Prometheus UI build left no static/mantine-ui/index.html" >&2; exit 1; }
	# Compress into web/ui/static and write web/ui/embed.go, as `make assets-compress` does.
	(cd "$work/src" && bash scripts/compress_assets.sh)
	gobuild netgo,builtinassets "$(promu_ldflags)" ./cmd/prometheus ./cmd/promtool
	;;
alertmanager)
	module_source github.com/prometheus/alertmanager
	ui=$work/src/ui
	sed -i 's|"@mantine/code-highlight": "[^"]*"|"@mantine/code-highlight": "9.6.2"|' "$ui/mantine-ui/package.json"
	log "npm install (ui/mantine-ui)"
	(cd "$ui/mantine-ui" && npm_ install >/dev/null)
	log "npm run build (ui/mantine-ui → ui/app/dist/mantine)"
	(cd "$ui/mantine-ui" && npm_ run build >"$work/ui-build.log" 2>&1) || { tail -40 "$work/ui-build.log" >&2; exit 1; }
	[ -f "$ui/app/dist/mantine/index.html.gz" ] || { echo "FATAL: the Alertmanager UI build left no app/dist/mantine/index.html.gz" >&2; exit 1; }
	# ui/web.go serves "/" from app/dist/elm/index.html.gz (HTML only in compressed form).
	mkdir -p "$ui/app/dist/elm"
	gzip -9 -n -c >"$ui/app/dist/elm/index.html.gz" <<-EOF
	<!doctype html>
	<html lang="en">
	<head><meta charset="utf-8"><meta name="generator" content="cgminer-stack mk/peers.sh">
	<title>Alertmanager $(cat "$work/src/VERSION")</title></head>
	<body>
	<h1>Alertmanager $(cat "$work/src/VERSION")</h1>
	<p>This Alertmanager was built from its Go module by cgminer-stack (mk/peers.sh) without its
	classic web UI: that UI is written in Elm, whose compiler fetches its packages from a site this
	build cannot reach.</p>
	<ul>
	<li><a href="./ui/#/status">The new web UI</a>: status and configuration (its alert and silence
	lists are still placeholders in this release).</li>
	<li>Alerts: <a href="./api/v2/alerts">./api/v2/alerts</a> (JSON), <code>amtool alert</code>, or
	Prometheus's own alerts page.</li>
	<li>Silences: <a href="./api/v2/silences">./api/v2/silences</a>, <code>amtool silence</code>.</li>
	</ul>
	</body>
	</html>
	EOF
	gobuild netgo "$(promu_ldflags)" ./cmd/alertmanager ./cmd/amtool
	;;
mailpit)
	module_source github.com/axllent/mailpit
	# sass-embedded 1.108.2 and rapidoc 9.3.8 (see above).
	(cd "$work/src" && node -e '
		const fs = require("fs"), p = JSON.parse(fs.readFileSync("package.json"));
		p.dependencies.rapidoc = "9.3.8";
		p.overrides = { ...(p.overrides || {}), "sass-embedded": "1.108.2" };
		fs.writeFileSync("package.json", JSON.stringify(p, null, 2) + "\n");')
	log "npm install"
	(cd "$work/src" && npm_ install >/dev/null)
	log "npm run build (server/ui/dist)"
	(cd "$work/src" && npm_ run build >"$work/ui-build.log" 2>&1) || { tail -40 "$work/ui-build.log" >&2; exit 1; }
	[ -f "$work/src/server/ui/dist/app.js" ] || { echo "FATAL: the mailpit UI build left no server/ui/dist/app.js" >&2; exit 1; }
	gobuild "" "-X github.com/axllent/mailpit/config.Version=$version" .
	;;
*)
	echo "unknown peer $peer (prometheus, alertmanager, mailpit)" >&2
	exit 2
	;;
esac

rm -rf "$dest.new"
mkdir -p "$dest.new"
cp "$work"/out/* "$dest.new/"
rm -rf "$dest"
mv "$dest.new" "$dest"
log "built $(cd "$dest" && ls | tr '\n' ' ')in $dest"
exit
}
