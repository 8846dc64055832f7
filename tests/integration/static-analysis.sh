# cppcheck over the C sources (make lint), as a test: a new warning fails make check.
cd "$(dirname "$0")/../.." || exit 1
if out=$(make -s lint 2>&1); then
	echo "ok /static/cppcheck"
else
	echo "FAIL /static/cppcheck: $(printf '%s' "$out" | grep -m3 'error:' | tr '\n' ' ')"
fi
