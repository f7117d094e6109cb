"""Training: plan the leak-free split in SQL, extract through Arrow, fit LightGBM, evaluate, publish to the registry."""
