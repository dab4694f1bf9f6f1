"""Simulate the synthetic A2201 virtual trial and write its ADaM datasets (CSV) to a directory.

    python examples/virtual_trial.py out/a2201 [--seed 2201]

The preset is src/dosefinding/study/presets/a2201.toml; copy it and edit the copy to make a
spec of your own (``simulate_trial("my_spec.toml")``). Every file written is synthetic data.
"""

from __future__ import annotations

import argparse

from dosefinding.study import simulate_trial


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory")
    parser.add_argument("--spec", default="a2201", help="preset name or TOML path (default a2201)")
    parser.add_argument("--seed", type=int, default=None, help="default: the spec's trial.seed")
    args = parser.parse_args()
    trial = simulate_trial(args.spec, seed=args.seed)
    print(trial.summary())
    for path in trial.write(args.directory):
        print("wrote", path)


if __name__ == "__main__":
    main()
