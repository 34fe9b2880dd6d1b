// Type tests for Schema, Pipeline and Model (compiled under strict by `npm test`).
import { InferenceSession, Model, Pipeline, Schema } from '../../index.js'
import type { CleanRecord, CleanRecords, FieldError, Prediction, Tensor, ValidationError } from '../../index.js'

async function main(): Promise<void> {
  const employees = new Schema(
    {
      name: { type: 'string', maxLength: 200 },
      joined: { type: 'date' },
      department: { type: 'string', choices: ['eng', 'ops'] },
      salary: { type: 'float', min: 0, nullable: true },
      active: { type: 'bool', default: true },
    },
    { allowUnknown: false, coerce: false },
  )
  const cleaned: CleanRecord = await employees.validate({ name: 'Ada' })
  const { valid, errors }: { valid: CleanRecord[]; errors: FieldError[] } = await employees.validateMany(Buffer.from('[]'))
  try {
    employees.validateSync({})
  } catch (error) {
    const { errors: fieldErrors } = error as ValidationError
    console.log(fieldErrors[0]?.path)
  }

  const pipeline = new Pipeline(employees, [
    { column: 'salary', transform: 'standardize', impute: 'median' },
    { column: 'department', transform: 'onehot' },
    { column: 'joined', transform: 'dateParts', parts: ['year', 'dayOfWeek'] },
    { column: 'name', transform: 'hash', buckets: 16 },
  ])
  await pipeline.fit([{ name: 'Ada' }])
  const features: Tensor<'float32'> = await pipeline.transform('[]')
  const names: string[] = pipeline.featureNames
  const restored: Pipeline = Pipeline.fromJSON(JSON.stringify(pipeline))

  const session = await InferenceSession.create('model.onnx')
  const model = await Model.create({ session, pipeline, labels: ['no', 'yes'] })
  const predictions: Prediction[] = await model.predict([{ name: 'Ada' }])
  for (const p of predictions) {
    if ('label' in p) console.log(p.label, p.probabilities)
    else console.log(p.value)
  }
  console.log(cleaned, valid, errors, features.data, names, restored)

  // Bulk records as CSV bytes, keeping the good ones.
  const csv = Buffer.from('name\nAda\n')
  const scored = await model.validateAndPredict(csv, { format: 'csv' })
  const rows: Uint32Array = scored.indices
  const bad: FieldError[] = scored.errors
  const firstScore: Prediction | undefined = scored.predictions[0]
  await pipeline.validateAndTransform(csv, { format: 'csv' })
  await employees.validateMany('{"name":"Ada"}\n', { format: 'json' })
  console.log(rows, bad, firstScore)

  // Records validated once, kept native, then featurised and scored.
  const kept: { valid: CleanRecords; errors: FieldError[] } = await employees.validateMany(csv, { format: 'csv', keep: 'native' })
  const keptRows: number = kept.valid.length
  await pipeline.transform(kept.valid)
  await model.predict(kept.valid)
  console.log(keptRows, kept.valid.indices)

  // @ts-expect-error: not a field type
  new Schema({ age: { type: 'integer' } })
  // @ts-expect-error: maxLength is a number
  new Schema({ name: { type: 'string', maxLength: '20' } })
  // @ts-expect-error: not a transform
  new Pipeline(employees, [{ column: 'salary', transform: 'scale' }])
  // @ts-expect-error: hash needs buckets
  new Pipeline(employees, [{ column: 'name', transform: 'hash' }])
  // @ts-expect-error: a Model needs a session
  await Model.create({ pipeline })
  // @ts-expect-error: not a record format
  await model.validateAndPredict(csv, { format: 'xml' })
}

void main
