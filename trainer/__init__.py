"""The bundled trainer: SFT, reward models, PPO (or TRL's RLOO), generation, run as `labeler-train`.

Its two doors into the labeler, one for each kind of input:
  - a project is read only through labeler.store, and only from a snapshot (trainer/data.py: ranked
    prompts, demonstrations, prompts; store.bulk_reads for the bulk columns), never the live file;
  - a file of pairs, rankings or prompts (eval-reward, ppo --prompts, generate --prompts) is read through
    labeler.formats, the same strict reader `labeler import` uses, so its errors name the file and line.
Generated answers and scores go back into the project through labeler.store's writes (one transaction each).
The configs, the command line and the events need no torch (`labeler-train --help` is instant); each method's
module imports the training stack.
"""
