#!/usr/bin/env bash
# Builds the Debian package from a built tree (npm run build: dist/, build/native/, build/guest/):
#   bash packaging/deb/build-deb.sh [OUT_DIR]   ->  OUT_DIR/kuasar_<version>_amd64.deb (default build/)
# Layout: /opt/kuasar/{bin,dist/src,build/native,build/guest[,build/guest-template],node_modules (production only),package.json},
# /etc/kuasar/kuasard.toml (conffile), /lib/systemd/system/*.service, /usr/bin links for kuasar-ctl
# and the containerd shim launchers. Needs no network: production modules are copied from node_modules.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-build}
version=${KUASAR_DEB_VERSION:-$(node -p 'require("./package.json").version')}
arch=$(dpkg --print-architecture)

for f in dist/src/cli/kuasard.js build/native/kuasar-holder build/native/kuasar-endpoint build/native/kuasar-notify build/guest/vmlinuz build/guest/initrd.img; do
  [ -e "$f" ] || { echo "build-deb: $f missing: run npm run build first" >&2; exit 1; }
done

stage=$(mktemp -d /tmp/kuasar-deb-XXXXXX)
trap 'rm -rf "$stage"' EXIT
root=$stage/root
opt=$root/opt/kuasar
mkdir -p "$opt/dist" "$opt/build" "$opt/node_modules" "$root/etc/kuasar" "$root/lib/systemd/system" "$root/usr/bin" "$root/DEBIAN"

# The program: launchers, compiled JS (no benchmarks), native helpers, the VM guest.
cp -a bin "$opt/bin"
(cd dist && find src -name '*.js' -not -path 'src/bench/*' | cpio -pdm --quiet "$opt/dist")
cp -a build/native "$opt/build/native"
cp -a build/guest "$opt/build/guest"
# The VM templates' guest (generic kernel with 9p), when this tree built one; without it templates boot build/guest.
if [ -d build/guest-template ]; then cp -a build/guest-template "$opt/build/guest-template"; fi
node -e 'const p=require("./package.json"); process.stdout.write(JSON.stringify({name:p.name,version:p.version,type:p.type,license:p.license,dependencies:p.dependencies},null,2)+"\n")' >"$opt/package.json"
cp README.md "$opt/README.md"
# Production dependencies only, as npm resolved them (each path once; nested ones come with their parent).
npm ls --omit=dev --all --parseable 2>/dev/null | tail -n +2 | sed "s|^$PWD/||" | sort -u | while read -r m; do
  case $m in node_modules/*/node_modules/*) continue ;; esac
  mkdir -p "$opt/$(dirname "$m")"
  cp -aL "$m" "$opt/$m"
done

# Config: its [sandboxers.<kind>] tables enable every kind (a kind whose runtime is missing
# fails its own pods, clearly); a conffile, so an admin's changes survive upgrades.
cp packaging/kuasard.toml "$root/etc/kuasar/kuasard.toml"
cp packaging/systemd/*.service "$root/lib/systemd/system/"
ln -s /opt/kuasar/bin/kuasar-ctl "$root/usr/bin/kuasar-ctl"
# containerd finds the shim on its PATH (1.7 bridge, 2.x without proxy plugins); Kuasar's names too.
for shim in containerd-shim-kuasar-v1 containerd-shim-kuasar-runc-v2 containerd-shim-kuasar-wasm-v2 containerd-shim-kuasar-vmm-v2 containerd-shim-kuasar-gvisor-v2; do
  ln -s "/opt/kuasar/bin/$shim" "$root/usr/bin/$shim"
done

size=$(du -sk "$root" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" packaging/deb/debian/control >"$root/DEBIAN/control"
cp packaging/deb/debian/conffiles "$root/DEBIAN/conffiles"
install -m 0755 packaging/deb/debian/postinst packaging/deb/debian/prerm packaging/deb/debian/postrm "$root/DEBIAN/"

mkdir -p "$out"
deb="$out/kuasar_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz -z3 --build "$root" "$deb" >/dev/null
echo "$deb"
