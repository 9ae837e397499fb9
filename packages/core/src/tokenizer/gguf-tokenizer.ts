/**
 * A tokenizer built from a GGUF file's tokenizer metadata on top of the transformers.js tokenizer
 * classes. We assemble the tokenizer.json that Hugging Face `transformers` derives from the same
 * GGUF (byte-level BPE, GPT-2 pre-tokenizer, control tokens as special added tokens) and hand it
 * to transformers.js, so ids match `transformers` loading the file.
 */
import { PreTrainedTokenizer } from '@huggingface/transformers';
import type { GGUFFile } from '../gguf/file.js';
import { SynthgradError } from '../util/errors.js';

const CONTROL = 3;
const USER_DEFINED = 4;

/** GPT-2's byte -> printable unicode map. */
export function bytesToUnicode(): Map<number, string> {
  const bs: number[] = [];
  for (let b = 33; b <= 126; b++) bs.push(b);
  for (let b = 161; b <= 172; b++) bs.push(b);
  for (let b = 174; b <= 255; b++) bs.push(b);
  const cs = [...bs];
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n++);
    }
  }
  return new Map(bs.map((b, i) => [b, String.fromCodePoint(cs[i])]));
}

export interface TokenizerInfo {
  vocabSize: number;
  bosId?: number;
  eosId?: number;
  padId?: number;
  unkId?: number;
  addBos: boolean;
  /** Token strings in the byte-level alphabet (e.g. "Ġgreat"), by id. */
  tokens: string[];
  /** Ids of special (control) tokens. */
  specialIds: Set<number>;
}

export class Tokenizer {
  private constructor(
    private readonly inner: PreTrainedTokenizer,
    readonly info: TokenizerInfo,
  ) {}

  static fromGGUF(file: GGUFFile): Tokenizer {
    const model = file.meta<string>('tokenizer.ggml.model');
    if (model !== 'gpt2') {
      throw new SynthgradError(`${file.path}: tokenizer model "${model}" is not supported (supported: gpt2 byte-level BPE)`, 'E_MODEL_UNSUPPORTED');
    }
    const tokens = file.requireMeta<string[]>('tokenizer.ggml.tokens');
    const merges = file.requireMeta<string[]>('tokenizer.ggml.merges');
    const types = file.meta<number[]>('tokenizer.ggml.token_type') ?? [];
    const spelling = bytesToUnicode();
    const alphabet = new Set(spelling.values());
    const encoder = new TextEncoder();
    const spelled = tokens.map((t) =>
      [...t].every((ch) => alphabet.has(ch)) ? t : [...encoder.encode(t)].map((b) => spelling.get(b)!).join(''),
    );
    const vocab: Record<string, number> = Object.create(null);
    spelled.forEach((t, i) => (vocab[t] = i));
    const added: object[] = [];
    const specialIds = new Set<number>();
    tokens.forEach((t, id) => {
      const isControl = types[id] === CONTROL && [...t].every((ch) => alphabet.has(ch));
      if (isControl || types[id] === USER_DEFINED) {
        added.push({ id, content: t, single_word: false, lstrip: false, rstrip: false, normalized: false, special: isControl });
        if (isControl) specialIds.add(id);
      }
    });
    const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
    const json = {
      version: '1.0',
      truncation: null,
      padding: null,
      added_tokens: added,
      normalizer: null,
      pre_tokenizer: byteLevel,
      post_processor: byteLevel,
      decoder: byteLevel,
      model: {
        type: 'BPE',
        dropout: null,
        unk_token: null,
        continuing_subword_prefix: '',
        end_of_word_suffix: '',
        fuse_unk: false,
        byte_fallback: false,
        ignore_merges: false,
        vocab,
        merges: merges.map((m) => m.split(' ')),
      },
    };
    const id = (key: string) => {
      const v = file.meta(key);
      return v === undefined ? undefined : Number(v);
    };
    const info: TokenizerInfo = {
      vocabSize: tokens.length,
      bosId: id('tokenizer.ggml.bos_token_id'),
      eosId: id('tokenizer.ggml.eos_token_id'),
      padId: id('tokenizer.ggml.padding_token_id'),
      unkId: id('tokenizer.ggml.unknown_token_id'),
      addBos: Boolean(file.meta('tokenizer.ggml.add_bos_token')),
      tokens: spelled,
      specialIds,
    };
    const name = (i?: number) => (i === undefined ? undefined : tokens[i]);
    const config = {
      tokenizer_class: 'GPT2Tokenizer',
      bos_token: name(info.bosId),
      eos_token: name(info.eosId),
      unk_token: name(info.unkId),
      pad_token: name(info.padId),
      add_bos_token: info.addBos,
      clean_up_tokenization_spaces: false,
      model_max_length: Number(file.meta('llama.context_length') ?? 2048),
    };
    return new Tokenizer(new PreTrainedTokenizer(json, config), info);
  }

  /** Token ids of `text`, without special tokens added (BOS is the caller's decision). */
  encode(text: string): number[] {
    if (text === '') return [];
    return this.inner.encode(text, { add_special_tokens: false });
  }

  decode(ids: number[], skipSpecial = false): string {
    if (ids.length === 0) return '';
    return this.inner.decode(ids, { skip_special_tokens: skipSpecial });
  }

  /** Human-readable text of one token (byte-level spelling undone). */
  tokenText(id: number): string {
    return this.decode([id]);
  }

  get vocabSize(): number {
    return this.info.vocabSize;
  }
}
