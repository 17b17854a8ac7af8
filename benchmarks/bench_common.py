"""What the in-process benchmarks share: their database arguments, Odoo's
configuration from them, and the line ``scripts/bench`` reads."""

import argparse

from odoo.tools import config


def database_argument_parser(description):
    """A parser with the database, an Odoo configuration file and the addons
    path, as ``scripts/bench`` passes them."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("-d", "--database", required=True)
    parser.add_argument("-c", "--config", help="an Odoo configuration file")
    parser.add_argument("--addons-path")
    return parser


def load_odoo_config(args):
    """Odoo's configuration for ``args`` of ``database_argument_parser``, its
    log kept to warnings."""
    odoo_args = ["-d", args.database, "--log-level=warn"]
    if args.config:
        odoo_args.append(f"--config={args.config}")
    if args.addons_path:
        odoo_args.append(f"--addons-path={args.addons_path}")
    config.parse_config(odoo_args)


def bench_line(name, ratio, goal, label, compare="<="):
    """The line scripts/bench reads: name, ratio, goal, label."""
    # Three decimals: the table judges the goal on the printed ratio, which must
    # not round a miss (0.803) into a hit (0.80).
    print(f"BENCH {name} {ratio:.3f} {compare} {goal} {label}", flush=True)
