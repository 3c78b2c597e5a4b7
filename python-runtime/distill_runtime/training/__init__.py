"""The training recipe: LoRA / QLoRA fine-tuning of the student on the teacher's labels.

recipe.py is the whole job, readable top to bottom (nanoGPT / torchtune style); batches.py turns labeled examples into
packed, masked micro-batches; setup.py builds the optimizer and the LoRA model; frozen.py trains the top layers
only from a once-computed cache of the frozen bottom ones; calibration.py fits the boolean thresholds on the train
margins; checkpoints.py saves and resumes at the exact step. The `train` job
(jobs/train.py) reads its config and calls recipe.train.
"""
