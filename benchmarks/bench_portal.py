"""The portal panel and the pay-several checkout against Odoo's /my/invoices.

Runs the benchmark test ``BenchPortalPanel`` (tag ``icp_portal_benchmark``, not
part of the normal suite) on an existing database with invoice_client_pay
installed, and prints its report. Everything happens inside the test's
transaction: nothing is committed.

    python3 benchmarks/bench_portal.py -d DB [-c odoo.conf] [--odoo-bin BIN]
        [--addons-path P]

ODOO_BIN (or --odoo-bin) names the Odoo launcher; ``scripts/bench portal`` finds it.

The test fails (exit code 1) when the panel's queries grow with the number of
documents, or when /my or the checkout takes more than 1.2x /my/invoices.
"""

import argparse
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-d", "--database", required=True)
    parser.add_argument("-c", "--config", help="an Odoo configuration file")
    parser.add_argument("--odoo-bin", default=os.environ.get("ODOO_BIN"))
    parser.add_argument("--addons-path", default=os.path.dirname(HERE))
    parser.add_argument("--http-port", default="8479")
    args = parser.parse_args()
    if not args.odoo_bin or not os.access(args.odoo_bin, os.X_OK):
        parser.error(
            "no Odoo launcher: set ODOO_BIN or --odoo-bin (or use scripts/bench)"
        )
    command = [
        args.odoo_bin,
        *(["--config", args.config] if args.config else []),
        "-d",
        args.database,
        f"--addons-path={args.addons_path}",
        "--http-interface=127.0.0.1",
        f"--http-port={args.http_port}",
        "--stop-after-init",
        "--log-level=info",
        "--test-tags=icp_portal_benchmark/invoice_client_pay:BenchPortalPanel",
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    output = result.stdout + result.stderr
    report = re.search(r"ICP BENCHMARK\n((?:  .*\n|\d.*\n|BENCH .*\n)+)", output)
    print(report.group(1) if report else output[-4000:])
    failed = re.search(r"(\d+) failed, (\d+) error", output)
    if (
        result.returncode
        or not report
        or (failed and failed.group(0) != "0 failed, 0 error")
    ):
        print("benchmark FAILED", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
