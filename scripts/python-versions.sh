# Sourced by scripts/release.sh and scripts/test-wheels.sh: the CPython
# versions that get a wheel, and where their interpreters are.
#
# DT_PYTHONS="3.11 3.12" (environment) narrows the list.

DT_PYTHON_VERSIONS=(3.10 3.11 3.12 3.13)
if [ -n "${DT_PYTHONS:-}" ]; then
    read -ra DT_PYTHON_VERSIONS <<< "$DT_PYTHONS"
fi

# find_python X.Y: prints the path of a CPython X.Y interpreter: pyenv's
# newest X.Y.N, else pythonX.Y from PATH (not through a pyenv shim, which may
# point at another version). Returns 1 if there is none.
find_python() {
    local v=$1 dir d
    local versions=${PYENV_ROOT:-$HOME/.pyenv}/versions
    if [ -d "$versions" ]; then
        while read -r dir; do
            if [[ $(basename "$dir") =~ ^${v//./\\.}\.[0-9]+$ ]] && [ -x "$dir/bin/python$v" ]; then
                echo "$dir/bin/python$v"
                return 0
            fi
        done < <(find "$versions" -mindepth 1 -maxdepth 1 -name "$v.*" | sort -V -r)
    fi
    local IFS=:
    for d in $PATH; do
        [[ $d == */shims ]] && continue
        if [ -x "$d/python$v" ]; then
            echo "$d/python$v"
            return 0
        fi
    done
    return 1
}
