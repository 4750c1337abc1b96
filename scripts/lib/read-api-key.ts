import { readFile } from 'node:fs/promises';

export interface ApiKeySource {
  apiKeyFile?: string;
  apiKeyEnv?: string;
}

/**
 * The Lucca API key comes from a file, an environment variable or stdin — never from an argument,
 * which would show in `ps` and in shell history.
 */
export async function readApiKey(source: ApiKeySource, stdin: NodeJS.ReadStream = process.stdin): Promise<string> {
  if (source.apiKeyFile && source.apiKeyEnv)
    throw new Error('Give the API key one way: --api-key-file or --api-key-env.');
  if (source.apiKeyFile) {
    const text = await readFile(source.apiKeyFile, 'utf8').catch((err: NodeJS.ErrnoException) => {
      throw new Error(`Cannot read the API key file ${source.apiKeyFile} (${err.code ?? err.message}).`);
    });
    return requireKey(text, `the file ${source.apiKeyFile}`);
  }
  if (source.apiKeyEnv) return requireKey(process.env[source.apiKeyEnv] ?? '', `$${source.apiKeyEnv}`);
  if (stdin.isTTY) {
    throw new Error('No API key given: use --api-key-file <path>, --api-key-env <VAR>, or pipe the key on stdin.');
  }
  const chunks: Buffer[] = [];
  for await (const chunk of stdin) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
  return requireKey(Buffer.concat(chunks).toString('utf8'), 'stdin');
}

function requireKey(text: string, where: string): string {
  const key = text.trim();
  if (!key) throw new Error(`The API key from ${where} is empty.`);
  if (/\s/.test(key)) throw new Error(`The API key from ${where} spans several words or lines: give the key alone.`);
  return key;
}
