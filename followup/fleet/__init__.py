"""The fleet page's side: stations' reports in, alerts, the page's queries, commands out."""
