/** The `operation` label of a statement: its SQL verb, or `other`. */
export type SqlOperation = "select" | "insert" | "update" | "delete" | "begin" | "commit" | "other";

/** What a statement is, for metrics and spans. */
export interface ClassifiedStatement {
  /** The metrics' `operation` label (a bounded set). */
  readonly operation: SqlOperation;
  /**
   * The span name and `db.operation.name`: the statement's keyword in upper
   * case (`SELECT`, `INSERT`, `ROLLBACK`, `CREATE`…); for a `WITH` query, the
   * verb of its first data-modifying part, else `SELECT`.
   */
  readonly name: string;
}

/** The first keyword, after blanks, comments and opening parentheses. */
const LEADING_KEYWORD = /^(?:\s+|--[^\n]*(?:\n|$)|\/\*[\s\S]*?\*\/|\()*([A-Za-z]+)/;
/** String literals, quoted identifiers and comments, which may hold any word. */
const NOT_KEYWORDS = /'(?:[^']|'')*'|"(?:[^"]|"")*"|--[^\n]*|\/\*[\s\S]*?\*\//g;
const DATA_VERB = /\b(insert|update|delete)\b/i;

const BY_KEYWORD: Readonly<Record<string, ClassifiedStatement>> = {
  SELECT: { operation: "select", name: "SELECT" },
  INSERT: { operation: "insert", name: "INSERT" },
  UPDATE: { operation: "update", name: "UPDATE" },
  DELETE: { operation: "delete", name: "DELETE" },
  BEGIN: { operation: "begin", name: "BEGIN" },
  START: { operation: "begin", name: "BEGIN" }, // START TRANSACTION
  COMMIT: { operation: "commit", name: "COMMIT" },
  END: { operation: "commit", name: "COMMIT" },
};

const OTHER: ClassifiedStatement = { operation: "other", name: "other" };

/**
 * Classifies a statement by its leading keyword: a regular expression on the
 * statement's first characters, so it costs about the same whatever its
 * length. Only a `WITH` query is read further (which verb its parts use), and
 * only statements with their own keyword land in `other` (`ROLLBACK`,
 * `CREATE`, `LISTEN`, `SET`…).
 */
export function classifyStatement(sql: string): ClassifiedStatement {
  const keyword = LEADING_KEYWORD.exec(sql)?.[1]?.toUpperCase();
  if (keyword === undefined) return OTHER;
  const known = BY_KEYWORD[keyword];
  if (known !== undefined) return known;
  if (keyword === "WITH") {
    const verb = DATA_VERB.exec(sql.replace(NOT_KEYWORDS, " "))?.[1]?.toUpperCase();
    return BY_KEYWORD[verb ?? "SELECT"] ?? BY_KEYWORD["SELECT"]!;
  }
  return { operation: "other", name: keyword };
}
