#!/usr/bin/env bash
# Mutation testing of the rule books (README "Mutation testing"): copies
# src/domain (with src/error.rs and src/admin_error.rs, which it uses) into
# a standalone scratch crate, so each mutant rebuilds ~10k lines instead of
# the whole server, and runs cargo-mutants there with the domain's unit
# tests. Usage: tools/mutants.sh src/domain/patch.rs [cargo-mutants args]
# (e.g. --re 'apply_attr' to test the mutants of one function only).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
file="${1:?usage: tools/mutants.sh src/domain/FILE.rs [cargo-mutants args]}"
shift
work="${MUTANTS_WORK:-$root/target/mutants-domain}"
mkdir -p "$work/src"
rm -f "$work"/src/*.rs
cp "$root"/src/domain/*.rs "$root/src/error.rs" "$root/src/admin_error.rs" "$work/src/"
mv "$work/src/mod.rs" "$work/src/lib.rs"
printf '\npub mod error;\npub mod admin_error;\n' >> "$work/src/lib.rs"
sed -i 's/crate::domain::/crate::/g; s/crate::domain\b/crate/g; s#"\.\./\.\./scim-schemas/#"../scim-schemas/#g' "$work"/src/*.rs
rm -rf "$work/scim-schemas" && cp -r "$root/scim-schemas" "$work/"
cp "$root/Cargo.lock" "$work/"
# The domain's dependencies, as the server's Cargo.toml pins them.
# The status types the rules decide over are the entity crate's column
# types (`entity::account::AccountStatus`, …): the scratch crate uses it
# from the tree (built once, not mutated).
python3 - "$root/Cargo.toml" "$work/Cargo.toml" "$root/entity" <<'PY'
import re, sys
main = open(sys.argv[1]).read()
entity = 'entity = { path = "%s" }' % sys.argv[3]
ws = main.split('[workspace.dependencies]')[1].split('[workspace.lints')[0]
deps = main.split('\n[dependencies]')[1].split('\n[dev-dependencies]')[0]
want = {'argon2', 'base64', 'chrono', 'csv', 'futures-util', 'hex', 'hmac', 'jsonwebtoken', 'rand',
        'serde', 'serde_json', 'sha2', 'subtle', 'thiserror', 'tokio', 'url', 'uuid', 'winnow'}
lines = [l for l in (ws + deps).splitlines()
         if (m := re.match(r'^([a-z0-9_-]+)\s*=', l)) and m.group(1) in want and 'workspace' not in l]
open(sys.argv[2], 'w').write(
    '[package]\nname = "scim-domain-mutants"\nversion = "0.0.0"\nedition = "2024"\n\n'
    '[dependencies]\n' + '\n'.join(lines) + '\n' + entity + '\n\n[dev-dependencies]\nstandardwebhooks = "1"\n\n'
    '[profile.dev]\ndebug = false\n[profile.dev.package.argon2]\nopt-level = 3\n'
    '[profile.dev.package.blake2]\nopt-level = 3\n\n[workspace]\n')
PY
cd "$work"
rel="src/$(basename "$file")"
CARGO_TARGET_DIR="$work/target" cargo mutants --in-place --no-shuffle -f "$rel" -o "$work" "$@" -- --lib
