// Types for parse-prometheus-text-format 1.1 (a port of the Prometheus Python client's parser;
// the package ships none). Its output follows prom2json: values stay strings.
declare module "parse-prometheus-text-format" {
  export interface PromSample { value?: string; labels?: Record<string, string>; buckets?: Record<string, string>; count?: string; sum?: string; quantiles?: Record<string, string> }
  export interface PromFamily { name: string; help: string; type: "COUNTER" | "GAUGE" | "HISTOGRAM" | "SUMMARY" | "UNTYPED"; metrics: PromSample[] }
  export default function parsePrometheusTextFormat(text: string): PromFamily[];
}
