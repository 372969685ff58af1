"""Fine-tune from a recipe YAML: the script form of ``hf-transfer-kit train``.

    python recipes/finetune.py recipes/configs/nlp/minilm_lora.yaml training.learning_rate=3e-4
    torchrun --nproc_per_node 2 recipes/finetune.py recipes/configs/nlp/minilm_full.yaml training.use_cpu=true
    accelerate launch recipes/finetune.py recipes/configs/nlp/minilm_lora.yaml

The lifecycle, spelled out (this is all ``Recipe.run`` does):
    recipe.setup()     # check inputs, load data + model, apply the strategy, build the Trainer
    recipe.train()     # transformers.Trainer.train()
    recipe.evaluate()  # test metrics + confusion matrix
    recipe.save(dir)   # model/adapter, tokenizer, config, metrics, card: staged, then renamed into place
"""

import sys

from hf_transfer_kit.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
