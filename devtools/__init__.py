"""Development tools for HAN Port: not shipped to Home Assistant, never imported by it.

- `builder`: the decoder's inverse, from engineering values to the exact bytes a meter
  sends (A-XDR, data-notification, general-glo-ciphering, HDLC, block transfer).
- `simulator`: a simulated meter pushing its vendor's lists on the vendor's cadence.
- `cli`: `python -m devtools simulate VENDOR --tcp PORT` serves that meter.
- `fuzzing`: the mutation fuzzer behind `scripts/fuzz` and tests/han/test_fuzz.py.
- `corpus`: the one loader of the capture corpus (tests/fixtures/corpus.json).

The vendor facts they use (list layouts, cadence, scalers) live with the decoder in
custom_components/han_port/han/vendors.py, so that what the tools build is what the
decoder reads.
"""
