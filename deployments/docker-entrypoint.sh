#!/usr/bin/env bash
# Entrypoint of the lume-prefect image: install the extra packages a model needs, then run
# the command (the worker's `prefect flow-run execute`, or whatever `docker run` was given).
#
#   EXTRA_PIP_PACKAGES    space-separated pip requirements, e.g. "scipy>=1.11 lume-base==1.2"
#   EXTRA_CONDA_PACKAGES  space-separated conda packages; installed only if conda exists
#   LUME_ENTRYPOINT_DRY_RUN=1  print each install command (one shell-quoted argv) instead
#
# These values come from job variables that any deployment can set, so none of them ever
# reaches a shell: each is split on blanks into an array, every word must look like a
# package requirement (no shell metacharacters, no leading "-"), and the words are passed
# after "--" so that pip or conda never read one as an option.
set -euo pipefail
set -f  # no globbing, even by mistake

# Letters, digits and . _ - + , = < > ! ~ : / @ [ ], blanks between words: enough for
# "pkg[extra]>=1,<2", "pkg@https://host/pkg.whl" and "git+https://host/repo@tag".
VALUE_RE=$'^[]A-Za-z0-9._+,=<>!~:/@[ \t-]*$'
WORD_RE='^[A-Za-z0-9][]A-Za-z0-9._+,=<>!~:/@[-]*$'

refuse() {
    echo "lume-entrypoint: refusing $1: $2; nothing was installed or run" >&2
    exit 64
}

# words VARNAME: the words of $VARNAME, each checked, into the array WORDS.
words() {
    local name=$1 value=${!1:-} word
    WORDS=()
    if [[ ! $value =~ $VALUE_RE ]]; then
        refuse "$name" "it may hold only package requirements separated by blanks (letters, digits and . _ - + , = < > ! ~ : / @ [ ])"
    fi
    read -r -a WORDS <<<"$value"
    for word in "${WORDS[@]}"; do
        [[ $word =~ $WORD_RE ]] || refuse "$name" "${word@Q} is not a package requirement"
    done
}

# run ARGV...: run it, or print it as one shell-quoted line in a dry run.
run() {
    if [[ ${LUME_ENTRYPOINT_DRY_RUN:-} == 1 ]]; then
        echo "lume-entrypoint: dry run: ${*@Q}"
    else
        "$@"
    fi
}

# Check both variables before installing anything, so a bad value changes nothing.
words EXTRA_PIP_PACKAGES
PIP_WORDS=("${WORDS[@]}")
words EXTRA_CONDA_PACKAGES
CONDA_WORDS=("${WORDS[@]}")

if ((${#CONDA_WORDS[@]})); then
    if command -v conda >/dev/null 2>&1; then
        run conda install --yes --quiet -- "${CONDA_WORDS[@]}"
    else
        echo "lume-entrypoint: EXTRA_CONDA_PACKAGES is set but this image has no conda; not installed: ${CONDA_WORDS[*]}" >&2
    fi
fi
if ((${#PIP_WORDS[@]})); then
    run python -m pip install --no-cache-dir --disable-pip-version-check -- "${PIP_WORDS[@]}"
fi

if (($# == 0)); then
    echo "lume-entrypoint: no command given" >&2
    exit 64
fi
exec "$@"
