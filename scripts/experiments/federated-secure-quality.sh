#!/usr/bin/env bash
# The README's federated privacy row: three owners of rtpolarity's train split (333 texts each)
# through a real coordinator with secure aggregation at epsilon 1 (the real model, mutual TLS on
# loopback), the result scored by `bench quality --synthetic-in` under the protocol's judge.
# Reads ../shared/data (not shipped); skips when it is absent. About 25 minutes on 2 cores.
#   scripts/experiments/federated-secure-quality.sh [OUT_DIR]     (TEXT_LENGTH=25 by default)
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ ! -f ../shared/data/rtpolarity/train.jsonl ]; then echo "../shared/data/rtpolarity is absent: skipped" >&2; exit 0; fi
D=${1:-/tmp/synthgrad-federated-quality}; S=$D/state
mkdir -p $D
rm -rf $S $D/shards $D/out-* $D/home-*
B="node packages/cli/dist/main.js"
$B data split --parts a,b,c --out $D/shards --data ../shared/data/rtpolarity/train.jsonl
$B coordinator tls-init --state $S --hosts localhost,127.0.0.1 >/dev/null
OP=$($B coordinator add-client --state $S --id op --operator 2>/dev/null)
declare -A T
for p in a b c; do T[$p]=$($B coordinator add-client --state $S --id $p 2>/dev/null); done
$B coordinator start --state $S --address 127.0.0.1:50777 --mtls > $D/coord.out 2> $D/coord.err &
CP=$!
sleep 5
SID=$($B coordinator create-session --address localhost:50777 --token "$OP" --tls $S/tls/clients/op --clients a,b,c --min-clients 3 --per-class 50 --epsilon 1 --delta 1e-5 --clip 1 --max-examples 1000 --secure-aggregation --text-length ${TEXT_LENGTH:-25})
echo "session $SID"
t0=$(date +%s)
for p in a b c; do
  SYNTHGRAD_HOME=$D/home-$p SYNTHGRAD_TOKEN=${T[$p]} $B client run --address localhost:50777 --tls $S/tls/clients/$p --session $SID --data $D/shards/$p.jsonl --out $D/out-$p > $D/client-$p.json 2> $D/client-$p.err &
done
wait %2 %3 %4 || true
echo "federated run: $(( $(date +%s) - t0 )) s"
kill $CP || true
cmp $D/out-a/synthetic.jsonl $D/out-b/synthetic.jsonl && cmp $D/out-a/synthetic.jsonl $D/out-c/synthetic.jsonl && echo "identical results"
node -e '
const fs=require("fs");
const rows=fs.readFileSync(process.argv[1],"utf8").trim().split("\n").map(JSON.parse);
const meta=JSON.parse(fs.readFileSync(process.argv[2],"utf8"));
const labels=meta.task.labels.map(l=>l.value);
const examples=rows.map(r=>({text:r.text,label:r.label,labelIndex:labels.findIndex(v=>String(v)===String(r.label)),matching_loss:r.matching_loss,perplexity:r.perplexity}));
if(examples.some(e=>e.labelIndex<0)) throw new Error("unknown label "+JSON.stringify(rows[0]));console.log("classes",labels,examples.filter(e=>e.labelIndex===0).length,examples.filter(e=>e.labelIndex===1).length);fs.writeFileSync(process.argv[3], JSON.stringify({method:{targetFilter:false}, settings:meta.settings, examples, total_s:meta.timings.total_s, target_classifier:null}));
' $D/out-a/synthetic.jsonl $D/out-a/synthetic.jsonl.meta.json $D/generation.json
$B bench quality --task-data ../shared/data/rtpolarity/train.jsonl --test ../shared/data/rtpolarity/validation.jsonl --rows none --real 1000 --synthetic-in $D/generation.json > $D/quality.json 2> $D/quality.err
echo "quality: $D/quality.json"
