"""The original entry point, kept working:

    spark-submit --jars "$(ls .jars/*.jar | paste -sd,)" src/etl_job.py --input_dir data --output_dir output

Extra flags: --as_of YYYY-MM-DD, --conf FILE. It runs the same nightly job as
`receivables run`.
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from receivables.cli import main  # noqa: E402

if __name__ == "__main__":
    p = argparse.ArgumentParser(description="receivables nightly job (spark-submit entry point)")
    p.add_argument("--input_dir", default="data")
    p.add_argument("--output_dir", default="output")
    p.add_argument("--as_of")
    p.add_argument("--conf")
    a = p.parse_args()
    argv = ["run", "--input-dir", a.input_dir, "--output-dir", a.output_dir]
    if a.as_of:
        argv += ["--as-of", a.as_of]
    if a.conf:
        argv += ["--conf", a.conf]
    sys.exit(main(argv))
