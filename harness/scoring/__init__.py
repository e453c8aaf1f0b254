"""How a reply becomes a verdict: answer extraction, the default rule, records, judges, `harness grade`."""
