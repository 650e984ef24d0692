#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Loads the HMM test driver (lib/test_hmm.c or the hmm-rs Rust module), runs the Rust port of
# hmm-tests against it, unloads the driver, and exits with the suite's exit code (kselftest
# convention: 0 pass, 1 fail, 4 skip). Unlike the upstream test_hmm.sh, the suite's result is
# never swallowed.

TEST_NAME="test_hmm_rs"
DRIVER="${HMM_DRIVER:-test_hmm}"
ABI="${HMM_DMIRROR_ABI:-}"
SUITE=""

# Kselftest framework requirement - SKIP code is 4.
ksft_skip=4

usage()
{
	cat <<EOF
Usage: $0 [OPTIONS] [smoke [spm_addr_dev0 spm_addr_dev1]] [-- SUITE_ARGS...]

Loads the driver, runs the hmm-tests suite, unloads the driver; exits with the suite's code.

Commands:
  smoke                      the whole suite (default when no command is given)
  spm_addr_dev0 spm_addr_dev1  physical addresses of two >= 256 MiB ranges the kernel does
                             not use (e.g. memmap=512M!0x100000000): enables the
                             DEVICE_COHERENT devices 2 and 3; without them the coherent
                             cases are skipped. Default: from the environment
                             (below).

Options:
  -m, --module NAME|PATH.ko  driver to load (default: \$HMM_DRIVER or test_hmm); a path
                             (containing '/' or ending in .ko) is insmod'ed, a name modprobe'd
  -a, --abi patched|mainline request numbering of the driver (default: \$HMM_DMIRROR_ABI,
                             else the driver's own, found out by the suite). Stock Linux 7.3
                             test_hmm speaks mainline; the
                             hmm-rs module (test_hmm_rs) is loaded with abi=<this>.
  -b, --binary PATH          the suite binary (default: hmm-tests-rs next to this script)
  -h, --help                 this help
  SUITE_ARGS                 passed to the suite, e.g. -- -t migrate_on_fault

Environment (for runners that pass no arguments, e.g. run_kselftest.sh):
  HMM_SPM_ADDRS="ADDR0 ADDR1"  the two spm addresses (space or comma separated), or
  SPM_ADDR_DEV0=ADDR0 SPM_ADDR_DEV1=ADDR1; addresses on the command line win
  HMM_DRIVER, HMM_DMIRROR_ABI  as --module, --abi
  HMM_TESTS_RUN_CRASHING=1     also run the regression cases known to crash the stock C
                             driver (write_during_migrate); by default the suite skips them
                             when /sys/module/test_hmm is there and test_hmm_rs is not

Examples:
  ./$TEST_NAME.sh
  ./$TEST_NAME.sh smoke 0x100000000 0x120000000
  HMM_SPM_ADDRS="0x100000000 0x120000000" ./$TEST_NAME.sh
  HMM_DRIVER=./test_hmm_rs.ko HMM_SPM_ADDRS="0x100000000 0x120000000" \\
    ./run_kselftest.sh -t mm:$TEST_NAME.sh
  ./$TEST_NAME.sh -m ./test_hmm_rs.ko -a patched smoke -- -f hmm2
EOF
}

die()
{
	echo "$0: $*" >&2
	exit 1
}

module_is_path()
{
	case "$DRIVER" in
	*/*|*.ko) return 0 ;;
	*) return 1 ;;
	esac
}

module_name()
{
	local n
	n=$(basename "$DRIVER")
	n=${n%.ko}
	echo "${n//-/_}"
}

module_loaded()
{
	[ -d "/sys/module/$(module_name)" ]
}

check_test_requirements()
{
	if [ "$(id -u)" -ne 0 ]; then
		echo "$0: Must be run as root"
		exit $ksft_skip
	fi

	if module_is_path; then
		if [ ! -f "$DRIVER" ]; then
			echo "$0: $DRIVER: no such module file"
			exit $ksft_skip
		fi
		if ! command -v insmod > /dev/null 2>&1; then
			echo "$0: You need insmod installed"
			exit $ksft_skip
		fi
	else
		if ! command -v modprobe > /dev/null 2>&1; then
			echo "$0: You need modprobe installed"
			exit $ksft_skip
		fi
		if ! modinfo "$DRIVER" > /dev/null 2>&1 && ! module_loaded; then
			echo "$0: You must have the following enabled in your kernel:"
			echo "CONFIG_TEST_HMM=m (or build the hmm-rs module)"
			exit $ksft_skip
		fi
	fi

	if [ -z "$SUITE" ]; then
		local dir
		dir=$(dirname "${BASH_SOURCE[0]}")
		if [ -x "$dir/hmm-tests-rs" ]; then
			SUITE="$dir/hmm-tests-rs"
		elif [ -x "$dir/hmm-tests" ] && "$dir/hmm-tests" --help 2>/dev/null | grep -q -- --abi; then
			SUITE="$dir/hmm-tests"
		else
			echo "$0: hmm-tests-rs not found next to this script (use --binary)"
			exit $ksft_skip
		fi
	fi
	[ -x "$SUITE" ] || die "$SUITE is not executable"
}

unload_driver()
{
	if module_is_path; then
		rmmod "$(module_name)"
	else
		modprobe -r "$DRIVER"
	fi
}

load_driver()
{
	local params=()

	if [ $# -eq 2 ]; then
		params=("spm_addr_dev0=$1" "spm_addr_dev1=$2")
	elif [ $# -ne 0 ]; then
		echo "Missing module parameters. Make sure pass spm_addr_dev0 and spm_addr_dev1" >&2
		usage >&2
		exit 1
	fi

	# The hmm-rs module speaks either numbering: load it with the one the suite will use.
	if [ "$(module_name)" = test_hmm_rs ] && [ -n "$ABI" ]; then
		params+=("abi=$ABI")
	fi

	# Parameters only apply at load time: start from an unloaded driver.
	if module_loaded; then
		unload_driver || die "$(module_name) is loaded and cannot be unloaded"
	fi

	if module_is_path; then
		insmod "$DRIVER" "${params[@]}" || die "insmod $DRIVER ${params[*]} failed"
	else
		modprobe "$DRIVER" "${params[@]}" || die "modprobe $DRIVER ${params[*]} failed"
	fi

	# Wait for udev to create the device nodes.
	local i
	for i in $(seq 50); do
		[ -c /dev/hmm_dmirror0 ] && [ -c /dev/hmm_dmirror1 ] && break
		sleep 0.1
	done
}

run_smoke()
{
	local rc unload_rc

	echo "Running smoke test. Note, this test provides basic coverage."

	load_driver "${ADDRS[@]}"
	if [ -n "$ABI" ]; then
		export HMM_DMIRROR_ABI="$ABI"
	fi
	# The driver was just loaded: a missing device node is a failure, not a skip.
	HMM_TESTS_REQUIRE_DEVICE=1 "$SUITE" "${SUITE_ARGS[@]}"
	rc=$?

	unload_driver
	unload_rc=$?
	if [ $unload_rc -ne 0 ]; then
		echo "$0: unloading $(module_name) failed ($unload_rc)" >&2
		# A driver that cannot be unloaded after the suite is a failure of its own.
		rc=1
	fi
	return $rc
}

ADDRS=()
SUITE_ARGS=()
COMMAND=""
while [ $# -gt 0 ]; do
	case "$1" in
	-m|--module) [ $# -ge 2 ] || die "$1 needs an argument"; DRIVER="$2"; shift 2 ;;
	-a|--abi) [ $# -ge 2 ] || die "$1 needs an argument"; ABI="$2"; shift 2 ;;
	-b|--binary) [ $# -ge 2 ] || die "$1 needs an argument"; SUITE="$2"; shift 2 ;;
	-h|--help) usage; exit 0 ;;
	--) shift; SUITE_ARGS=("$@"); break ;;
	smoke) COMMAND=smoke; shift ;;
	-*) usage >&2; exit 1 ;;
	*)
		[ "$COMMAND" = smoke ] || { usage >&2; exit 1; }
		ADDRS+=("$1"); shift ;;
	esac
done

# The spm addresses from the environment when none were given (the kselftest runner passes
# no arguments).
if [ ${#ADDRS[@]} -eq 0 ]; then
	if [ -n "${HMM_SPM_ADDRS:-}" ]; then
		read -r -a ADDRS <<< "${HMM_SPM_ADDRS//,/ }"
		[ ${#ADDRS[@]} -eq 2 ] || die "HMM_SPM_ADDRS must hold two addresses, not '$HMM_SPM_ADDRS'"
	elif [ -n "${SPM_ADDR_DEV0:-}" ] || [ -n "${SPM_ADDR_DEV1:-}" ]; then
		[ -n "${SPM_ADDR_DEV0:-}" ] && [ -n "${SPM_ADDR_DEV1:-}" ] ||
			die "SPM_ADDR_DEV0 and SPM_ADDR_DEV1 must both be set"
		ADDRS=("$SPM_ADDR_DEV0" "$SPM_ADDR_DEV1")
	fi
fi

case "$ABI" in
""|patched|mainline) ;;
*) die "--abi must be patched or mainline, not '$ABI'" ;;
esac

check_test_requirements
run_smoke
exit $?
