"""Below everything else: errors and their catalogue, atomic writes, secret redaction, paths, stage outputs."""
