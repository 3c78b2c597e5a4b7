// Credentials in URLs never reach a file. A base URL may carry a password (http://user:pass@host/v1) or a key in its
// query (?api-key=...); wherever a URL can be recorded (an error in the answer store, run.json, the notebook's
// outputs) the user:password@ part and the values of secret query parameters are replaced. The Python side
// (python-runtime/distill_runtime/nbexec.py, the executed .ipynb and .html) applies the same two patterns.

const redacted = "[redacted]";

// scheme://userinfo@ : userinfo holds no "/", "?", "#", "@" or whitespace (RFC 3986), and quotes end a URL in text.
const userinfo = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?#@"'<>\\]+@/gi;

// ?name=value / &name=value for names that carry secrets (Azure's api-key, key=, token=, SAS sig=, ...).
const secretParameter = /([?&;](?:api[-_]?key|apikey|key|token|access[-_]?token|auth|sig|signature|password|passwd|pwd|secret|client[-_]?secret)=)[^&#\s"'<>\\]+/gi;

/** The text with every URL's credentials replaced by "[redacted]" (user:password@, secret query values). */
export function redactUrls(text: string): string {
  if (!text.includes("://") && !text.includes("=")) return text;
  return text.replace(userinfo, `$1${redacted}@`).replace(secretParameter, `$1${redacted}`);
}

/** A URL split into one without credentials and, when it had user:password@, the HTTP Basic authorization for them
 *  (what curl would send; Node's fetch refuses a URL that carries credentials). */
export function splitCredentials(url: string): { url: string; authorization?: string } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { url };
  }
  if (parsed.username === "" && parsed.password === "") return { url };
  const user = decodeURIComponent(parsed.username);
  const password = decodeURIComponent(parsed.password);
  parsed.username = "";
  parsed.password = "";
  return { url: parsed.toString(), authorization: `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}` };
}
