
from pathlib import Path

# The seed: 朝农街道's 2021 work summary (a copy of shared/seed/000_e42e0a84ef104089.txt), the
# document every figure and mechanism of jiedao is measured against.
SEED_SUMMARY = Path(__file__).resolve().parent / "seed" / "chaonong_2021_summary.txt"
