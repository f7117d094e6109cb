"""Seeded, reproducible generator of sample raw drops for the alert triage pipeline.

A raw drop is the set of five Parquet files an upstream producer delivers for one
``(network, processing_date, window_days)``::

    <out>/<network>/<YYYY-MM-DD>/<window_days>d/
        alerts.parquet  features.parquet  clusters.parquet
        money_flows.parquet  address_labels.parquet

Column names, order and types follow ``trainer/ingest/raw_tables.sql``; Decimal128(18)
columns are written as float64, which the raw contract allows.

The generator draws an address universe with a hidden risk (a bad flag plus a
continuous latent score). The hidden risk is never written to any column; it only
shifts, noisily, a handful of alert attributes, address features, counterparty
homophily in money flows, cluster composition and the analyst labels. A model trained
on features derived from these tables should therefore beat chance clearly without
being perfect. With ``random_labels=True`` every label's risk level is drawn
independently of the hidden risk (same marginal distribution), so nothing in the
data predicts the label: the leakage test relies on that. Addresses do recur across
drops (alert popularity is skewed), so a model can still memorise an address's label;
a leakage check must keep training and test addresses apart, as the out-of-time split does.

With ``label_delay_days=N`` (``--label-delay-days``; ``make demo`` uses 7) labels behave like closed
investigations: a label found during the window is published N days after its address's first alert, a
re-label N days after it is made; the history known on the first day is there from the start. Without it, a
label appears on the day it is found, whether or not its address was alerted.

Every other day is written in upstream's own style (typologies in upper case, clusters without
``primary_address``, cluster alert times in milliseconds), so the pipeline always reads both. What the generator
still assumes, and real drops need not hold: its vocabularies are the lists in ``tables.py`` and ``universe.py``
(upstream's are open, see the dbt vars), every drop holds every file with rows, labels are lower case, upstream
features are finite and non-negative, and one drop window (``--window-days``) per run. The contract fuzzing suite
(tests/integration/test_contract_fuzzing.py) writes drops without any of these assumptions.

Everything is vectorised with numpy and pyarrow; there is no per-alert Python loop.
Each drop gets its own random stream derived from ``(seed, network, window_days, drop index)``,
so output is identical for identical arguments.

Modules, one job each: ``schemas`` (the Arrow schemas, read from the raw DDL), ``arrays`` (vectorised column
builders), ``universe`` (the addresses, their hidden risk and the labels), ``tables`` (one function per drop file),
``drops`` (validation, atomic writes, ``generate_drops``) and ``__main__`` (the CLI).

CLI::

    python -m trainer.sample_data --network ethereum --start 2024-01-01 \\
        --end 2024-03-31 --out DIR [--seed N] [--alerts-per-day N] [--window-days 7] \\
        [--random-labels] [--label-delay-days N]
"""

from trainer.sample_data.drops import SampleDataError, generate_drops
from trainer.sample_data.schemas import DROP_FILES

__all__ = ["DROP_FILES", "SampleDataError", "generate_drops"]
