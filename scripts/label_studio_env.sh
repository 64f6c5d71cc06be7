#!/usr/bin/env bash
# A virtualenv with Label Studio 1.23 (and its label-studio-sdk), for the tests of the
# Label Studio bridge. Label Studio is heavy (Django, ~1 GB, ~1 min to install here) and is
# no dependency of knn-al, so it lives in a venv of its own, cached between runs:
#   $KNN_AL_LABEL_STUDIO_VENV, default ~/.cache/knn-al/label-studio-venv
# Idempotent: a venv that already works is reused as it is. Prints the venv's path as the
# last line of stdout; pip's output goes to stderr.
#
# "Works" is checked by importing the packages, not by `label-studio --version`: in 1.23
# that command migrates a database in ~/.local/share/label-studio and then starts the
# server on 0.0.0.0:8080 (it does not exit).
set -euo pipefail

venv="${KNN_AL_LABEL_STUDIO_VENV:-$HOME/.cache/knn-al/label-studio-venv}"
python="${PYTHON:-python3}"
# Written first into a venv this script makes: only such a venv may be removed and remade.
stamp="$venv/.made-by-knn-al-label-studio-env"
# Written last: the install finished (a killed install leaves a venv without it).
done_mark="$venv/.knn-al-label-studio-env-complete"

works() {
    [[ -f "$done_mark" && -x "$venv/bin/label-studio" ]] && "$venv/bin/python" - <<'EOF' 2>/dev/null
import importlib.metadata as metadata
import sys

version = metadata.version("label-studio")
metadata.version("label-studio-sdk")
import label_studio, label_studio_sdk  # noqa: E401,F401  (importable, not only listed)
sys.exit(0 if version.startswith("1.23.") else 1)
EOF
}

mkdir -p "$(dirname "$venv")"
# Two test sessions starting at once must not install into the same directory together.
exec 9>"$venv.lock"
flock 9

if works; then
    echo "$venv"
    exit 0
fi

if [[ -e "$venv" ]]; then
    if [[ ! -f "$stamp" ]]; then
        echo "label_studio_env.sh: $venv exists but was not made by this script;" \
             "remove it or set KNN_AL_LABEL_STUDIO_VENV to another path" >&2
        exit 1
    fi
    echo "label_studio_env.sh: $venv is incomplete or broken; making it again" >&2
    rm -rf "$venv"
fi

started=$SECONDS
echo "label_studio_env.sh: installing label-studio==1.23.* into $venv (about a minute)" >&2
"$python" -m venv "$venv"
touch "$stamp"
"$venv/bin/python" -m pip install --quiet 'label-studio==1.23.*' 'label-studio-sdk' >&2
touch "$done_mark"
if ! works; then
    echo "label_studio_env.sh: label-studio installed into $venv but does not import" >&2
    exit 1
fi
echo "label_studio_env.sh: installed in $((SECONDS - started)) s" >&2
echo "$venv"
