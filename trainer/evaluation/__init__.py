"""Evaluation shared by training, the promotion gate and monitoring: read a table's rows, split them leak-free, score
them (ranking and triage metrics). It imports none of train, registry or monitor, so each of those can use it."""
