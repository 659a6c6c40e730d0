#!/usr/bin/env node
// Sigstore bundle v0.3 fixtures made, attached and checked by Sigstore's own JavaScript libraries,
// so that the proxy's verifier is tested against bundles nobody on the project wrote, and bundles
// the proxy writes are checked by a verifier nobody on the project wrote (tests/README.md).
//
// Offline on purpose: a key of the caller's, no Fulcio certificate, no Rekor entry, no timestamp
// authority. Exit status 0 on success, 1 with a message on stderr otherwise, 2 on bad usage.
import crypto from 'node:crypto';
import fs from 'node:fs';
import { parseArgs } from 'node:util';

import { bundleFromJSON, bundleToJSON } from '@sigstore/bundle';
import { attachArtifactToImage } from '@sigstore/oci';
import { DSSEBundleBuilder } from '@sigstore/sign';
import { Verifier, toSignedEntity, toTrustMaterial } from '@sigstore/verify';

const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';
const STATEMENT_V1 = 'https://in-toto.io/Statement/v1';
// What cosign v3 signs for an image: a statement whose predicate says only "signed".
const COSIGN_SIGN_PREDICATE = 'https://sigstore.dev/cosign/sign/v1';
const DIGEST_RE = /^sha256:([0-9a-f]{64})$/;
const USAGE = `usage:
  sigstore-fixture.mjs sign --key PRIVATE.pem --digest sha256:<hex> [--name NAME]
                            [--predicate-type URI] --out BUNDLE.json
  sigstore-fixture.mjs attach --bundle BUNDLE.json --image HOST:PORT/REPO@sha256:<hex>
                              [--user U --password P]
  sigstore-fixture.mjs verify --bundle BUNDLE.json --key PUBLIC.pem --digest sha256:<hex>`;

class UsageError extends Error {}

// A Signer for DSSEBundleBuilder that signs with a PEM private key through node:crypto, with the
// hashes of Sigstore's algorithm registry. P-384 is refused: the registry pairs it with SHA-384,
// but @sigstore/verify 2.x checks every ECDSA signature with the key's default hash (SHA-256), so
// this file's own `verify` would refuse what `sign` made.
class KeySigner {
  constructor(privateKeyPem) {
    this.key = crypto.createPrivateKey(privateKeyPem);
    const { asymmetricKeyType: type, asymmetricKeyDetails: details } = this.key;
    if (type === 'ec' && details.namedCurve === 'prime256v1') this.hash = 'sha256';
    else if (type === 'rsa') this.hash = 'sha256'; // PKCS#1 v1.5, node's default padding
    else if (type === 'ed25519') this.hash = null; // pure Ed25519 over the PAE itself
    else throw new UsageError(`unsupported key: ${type} ${details?.namedCurve ?? ''}`.trim());
    const spki = crypto.createPublicKey(this.key).export({ type: 'spki', format: 'der' });
    this.publicKeyPem = crypto.createPublicKey(this.key).export({ type: 'spki', format: 'pem' });
    // sigstore-go's hint for a key: base64 of SHA-256 over the DER SubjectPublicKeyInfo.
    this.hint = crypto.createHash('sha256').update(spki).digest('base64');
  }

  // `data` is the DSSE pre-authentication encoding; ECDSA signatures come out ASN.1 DER.
  async sign(data) {
    return {
      signature: crypto.sign(this.hash, data, this.key),
      key: { $case: 'publicKey', publicKey: this.publicKeyPem, hint: this.hint },
    };
  }
}

function hexOf(digest) {
  const m = DIGEST_RE.exec(digest ?? '');
  if (!m) throw new UsageError(`not a sha256:<64 lowercase hex> digest: ${digest}`);
  return m[1];
}

async function sign({ key, digest, name, 'predicate-type': predicateType, out }) {
  const subject = { ...(name ? { name } : {}), digest: { sha256: hexOf(digest) } };
  const statement = {
    _type: STATEMENT_V1,
    subject: [subject],
    predicateType: predicateType ?? COSIGN_SIGN_PREDICATE,
    predicate: {},
  };
  // No witnesses: no Rekor entry, no RFC 3161 timestamp. The builder writes the v0.3 media type
  // unless asked for a certificate chain; with a key, not a certificate, the verification
  // material is the key's hint alone (not the key itself), and the hint is the DSSE keyid too.
  const signer = new KeySigner(fs.readFileSync(key));
  const builder = new DSSEBundleBuilder({ signer, witnesses: [] });
  const bundle = await builder.create({
    data: Buffer.from(JSON.stringify(statement)),
    type: IN_TOTO_PAYLOAD_TYPE,
  });
  fs.writeFileSync(out, JSON.stringify(bundleToJSON(bundle)) + '\n');
}

async function attach({ bundle: path, image, user, password }) {
  const at = image.lastIndexOf('@');
  if (at < 0) throw new UsageError(`--image must be HOST:PORT/REPO@sha256:<hex>: ${image}`);
  hexOf(image.slice(at + 1));
  // The layer is the file's bytes as they are, so its digest is the file's.
  const artifact = fs.readFileSync(path);
  const json = JSON.parse(artifact);
  const bundle = bundleFromJSON(json);
  // The listing hints of Sigstore's OCI spec (and cosign v3's referrers): what the bundle holds.
  const annotations = {};
  if (bundle.content.$case === 'dsseEnvelope') {
    annotations['dev.sigstore.bundle.content'] = 'dsse-envelope';
    const statement = JSON.parse(bundle.content.dsseEnvelope.payload);
    if (statement.predicateType)
      annotations['dev.sigstore.bundle.predicateType'] = statement.predicateType;
  } else {
    annotations['dev.sigstore.bundle.content'] = 'message-signature';
  }
  // @sigstore/oci speaks plain http to "localhost" and "127.0.0.1" and https to every other host.
  // It signs in only when given credentials: a POST to blobs/uploads/ must then be answered with
  // a Basic or Bearer challenge (a registry without auth answers 202, which it cannot parse).
  const descriptor = await attachArtifactToImage({
    imageName: image.slice(0, at),
    imageDigest: image.slice(at + 1),
    artifact,
    mediaType: json.mediaType,
    annotations,
    credentials: user !== undefined ? { username: user, password: password ?? '' } : undefined,
  });
  process.stdout.write(JSON.stringify(descriptor) + '\n');
}

async function verify({ bundle: path, key, digest }) {
  const hex = hexOf(digest);
  const bundle = bundleFromJSON(JSON.parse(fs.readFileSync(path)));
  if (bundle.content.$case !== 'dsseEnvelope') throw new Error('the bundle holds no DSSE envelope');
  const envelope = bundle.content.dsseEnvelope;
  if (envelope.payloadType !== IN_TOTO_PAYLOAD_TYPE)
    throw new Error(`payload type is ${envelope.payloadType}, not ${IN_TOTO_PAYLOAD_TYPE}`);
  // No CAs, logs or TSAs are trusted: the given key is, for whatever hint the bundle names (as
  // `cosign verify --key`: the key is chosen by the caller, the hint only names it).
  const publicKey = crypto.createPublicKey(fs.readFileSync(key));
  const trust = toTrustMaterial(
    { certificateAuthorities: [], timestampAuthorities: [], tlogs: [], ctlogs: [] },
    () => ({ publicKey, validFor: () => true }),
  );
  // The thresholds default to one tlog entry and one SCT; offline bundles have neither.
  const verifier = new Verifier(trust, { tlogThreshold: 0, ctlogThreshold: 0, tsaThreshold: 0 });
  verifier.verify(toSignedEntity(bundle));
  // The signature covers the statement; the statement must name this digest.
  const statement = JSON.parse(envelope.payload);
  if (statement._type !== STATEMENT_V1) throw new Error(`statement _type is ${statement._type}`);
  const subjects = Array.isArray(statement.subject) ? statement.subject : [];
  if (!subjects.some((s) => s?.digest?.sha256 === hex))
    throw new Error(`no in-toto subject has digest ${digest}`);
  process.stdout.write(`verified: ${digest}\n`);
}

const COMMANDS = {
  sign: { run: sign, required: ['key', 'digest', 'out'], options: ['name', 'predicate-type'] },
  attach: { run: attach, required: ['bundle', 'image'], options: ['user', 'password'] },
  verify: { run: verify, required: ['bundle', 'key', 'digest'], options: [] },
};

async function main(argv) {
  const command = COMMANDS[argv[0]];
  if (!command) throw new UsageError(USAGE);
  const names = [...command.required, ...command.options];
  const { values } = parseArgs({
    args: argv.slice(1),
    options: Object.fromEntries(names.map((n) => [n, { type: 'string' }])),
  });
  const missing = command.required.filter((n) => values[n] === undefined);
  if (missing.length)
    throw new UsageError(`${argv[0]}: missing --${missing.join(', --')}\n${USAGE}`);
  await command.run(values);
}

main(process.argv.slice(2)).catch((err) => {
  // Errors from the libraries wrap their cause (OCIError: the HTTP status and body).
  let message = err.message;
  for (let cause = err.cause; cause; cause = cause.cause) message += `: ${cause.message ?? cause}`;
  process.stderr.write(`sigstore-fixture: ${message}\n`);
  process.exit(err instanceof UsageError || err.code?.startsWith?.('ERR_PARSE_ARGS') ? 2 : 1);
});
